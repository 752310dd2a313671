import { AuthorizationError, PermissionViolationError, connect } from "@nats-io/transport-node";
import { ConfigError, ConfigErrors, EnvReader, describeNatsAuth, natsAuthOptions, readNatsAuth, type NatsAuth } from "@rt/runtime";
import { devNatsBackend, devNatsUrl } from "./dev-state.ts";

/** What the command-line tools share. */

/** Looks like a NATS server URL (`nats://…`, `host:port`), not a JSON argument. */
const NATS_URL = /^([a-z]+:\/\/\S+|[\w.-]+:\d+)(,\S+)*$/i;

/** `--nats` takes an optional URL: split it out before parseArgs (which wants a value or none). */
export function takeNats(argv: string[]): { rest: string[]; nats: { url: string | undefined } | undefined } {
  const rest: string[] = [];
  let nats: { url: string | undefined } | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--nats=")) nats = { url: a.slice("--nats=".length) };
    else if (a === "--nats") {
      const next = argv[i + 1];
      nats = { url: next !== undefined && NATS_URL.test(next) ? next : undefined };
      if (nats.url !== undefined) i++;
    } else rest.push(a);
  }
  return { rest, nats };
}


/** Where a command-line tool sends its NATS requests, and as whom (it acts as a backend). */
export interface NatsTarget {
  url: string;
  auth: NatsAuth;
}

/**
 * The server: the URL given, else NATS_URL, else the running `bun run dev`'s, else
 * nats://127.0.0.1:4222. The credentials: NATS_USER + NATS_PASSWORD, NATS_TOKEN or NATS_CREDS
 * (as every service reads them), else, for the running dev server, the backend user the launcher
 * made (`.tmp/dev/nats-backend.json`), else none. Throws ConfigErrors naming each bad variable.
 */
export function natsTarget(given: string | undefined, env: Record<string, string | undefined> = process.env): NatsTarget {
  const r = new EnvReader(env);
  const auth = readNatsAuth(r);
  const dev = devNatsUrl();
  const raw = given ?? env.NATS_URL ?? dev ?? "nats://127.0.0.1:4222";
  // nats.js ignores `user:password@` in a URL (Go's clients and the nats CLI take it, and `bun run dev` prints one): use it as the credentials.
  const split = splitUrlCredentials(raw);
  if (split.auth && describeNatsAuth(auth) !== "none") r.fail(given !== undefined ? "--nats" : "NATS_URL", "has credentials in it and so do NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS: give them once");
  r.done(auth);
  if (split.auth) return { url: split.url, auth: split.auth };
  if (describeNatsAuth(auth) === "none" && dev !== undefined && raw === dev) {
    const backend = devNatsBackend();
    if (backend) return { url: raw, auth: { user: backend.user, pass: backend.password } };
  }
  return { url: raw, auth };
}

/**
 * `url` (a comma list) without the `user:password@` (or `token@`) of its servers, and those
 * credentials when there are some (the first server's).
 */
export function splitUrlCredentials(url: string): { url: string; auth?: NatsAuth } {
  let auth: NatsAuth | undefined;
  const servers = url.split(",").map((server) => {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@(.*)$/i.exec(server.trim());
    if (!m) return server;
    if (auth === undefined && m[2] !== "") {
      const colon = m[2]!.indexOf(":");
      auth = colon < 0 ? { token: decoded(m[2]!) } : { user: decoded(m[2]!.slice(0, colon)), pass: decoded(m[2]!.slice(colon + 1)) };
    }
    return `${m[1]}${m[3]}`;
  });
  return auth ? { url: servers.join(","), auth } : { url: servers.join(",") };
}

/** A URL's percent-encoded part decoded (as it is when it is not valid percent-encoding). */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** `natsTarget` for a tool: a bad NATS_* variable is bad input (`fail(2, …)`, each named). */
export function natsTargetOrFail(given: string | undefined, fail: (code: number, message: string) => never): NatsTarget {
  try {
    return natsTarget(given);
  } catch (err) {
    if (err instanceof ConfigError) fail(2, (err instanceof ConfigErrors ? err.errors : [err]).map((e) => e.message).join("; "));
    throw err;
  }
}

/**
 * One NATS request from a command-line tool. Resolves with the answer's text; rejects with a
 * message fit for the user when NATS, its permission or an answer is not there: a subject the
 * user may not publish to is `permission denied: <subject>` at once (nats.js v3 rejects the
 * request with a RequestError whose `cause` is the server's PermissionViolationError), not a timeout.
 */
export async function requestOverNats(target: NatsTarget, subject: string, payload: string, timeoutMs: number): Promise<string> {
  const { url, auth } = target;
  let nc;
  try {
    nc = await connect({ servers: url.split(","), timeout: 5000, ...natsAuthOptions(auth) });
  } catch (err) {
    if (err instanceof AuthorizationError) throw new Error(`NATS at ${url} refused the credentials (${describeNatsAuth(auth)}): ${err.message}; set NATS_USER and NATS_PASSWORD, NATS_TOKEN or NATS_CREDS`);
    throw new Error(`cannot reach NATS at ${url}: ${(err as Error).message}`);
  }
  try {
    return (await nc.request(subject, payload, { timeout: timeoutMs })).string();
  } catch (err) {
    const denied = permissionViolation(err);
    if (denied?.operation === "publish") throw new Error(`permission denied: ${denied.subject} (connected as ${describeNatsAuth(auth)}, which may not publish there)`);
    if (denied) throw new Error(`permission denied: ${denied.subject} (connected as ${describeNatsAuth(auth)}, which may not subscribe to the reply inbox; a backend's replies arrive under _INBOX.>)`);
    throw new Error(`no answer on ${subject} at ${url} (is the notifier running?): ${(err as Error).message}`);
  } finally {
    await nc.close();
  }
}

/** The server's permission violation behind a failed request (nats.js wraps it in a RequestError's `cause`), or undefined. */
export function permissionViolation(err: unknown): PermissionViolationError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof PermissionViolationError) return e;
  }
  return undefined;
}
