import { AuthorizationError, PermissionViolationError, connect, errors } from "@nats-io/transport-node";
import { ConfigError, ConfigErrors, EnvReader, describeNatsAuth, natsAuthOptions, readNatsAuth, type NatsAuth } from "@rt/runtime";
import { DevState } from "./dev-state.ts";

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
  /** Where the URL came from, for messages: "--nats", "NATS_URL", or the dev run's state file. */
  source: string;
  /** True when the URL is the running dev run's (its state file named it). */
  devRun: boolean;
  /** Said on stderr before connecting: a password given in argv (`bun run` prints its command, `ps` shows it). */
  warning?: string;
}

/** No server given and no `bun run dev` running: nothing to send to (the tools never guess one). */
export class NoDevRunError extends Error {
  constructor(state: DevState) {
    super(`no NATS server to send to: give --nats nats://host:port or set NATS_URL, or start \`bun run dev\` (no dev run is running: ${state.file("natsUrl")} does not exist)`);
    this.name = "NoDevRunError";
  }
}

/**
 * The server: the URL given, else NATS_URL, else the running `bun run dev`'s (its state folder's
 * nats-url: DEV_STATE_DIR, else .tmp/dev); none of these is NoDevRunError. The credentials:
 * NATS_USER + NATS_PASSWORD, NATS_TOKEN or NATS_CREDS (as every service reads them), or those in the
 * URL, else, for the dev run's server, its backend user (the state folder's nats-passwords.json),
 * else none. Throws ConfigErrors naming each bad variable.
 */
export function natsTarget(given: string | undefined, env: Record<string, string | undefined> = process.env): NatsTarget {
  const r = new EnvReader(env);
  const auth = readNatsAuth(r);
  const state = DevState.of(env);
  const dev = state.natsUrl();
  const fromEnv = env.NATS_URL === "" ? undefined : env.NATS_URL;
  const raw = given ?? fromEnv ?? dev;
  const source = given !== undefined ? "--nats" : fromEnv !== undefined ? "NATS_URL" : `the running bun run dev's, from ${state.file("natsUrl")}`;
  // nats.js ignores `user:password@` in a URL (Go's clients and the nats CLI take it, and `bun run dev` prints one): use it as the credentials.
  const split = raw === undefined ? undefined : splitUrlCredentials(raw);
  if (split?.auth && describeNatsAuth(auth) !== "none") r.fail(given !== undefined ? "--nats" : "NATS_URL", "has credentials in it and so do NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS: give them once");
  r.done(auth);
  if (raw === undefined || split === undefined) throw new NoDevRunError(state);
  const devRun = raw === dev;
  const target: NatsTarget = { url: split.url, auth, source, devRun };
  if (split.auth) {
    target.auth = split.auth;
    if (given !== undefined) target.warning = "the credentials in --nats can be read by anyone on this machine (ps), and bun run prints its command: set NATS_USER and NATS_PASSWORD (or NATS_TOKEN, NATS_CREDS) instead";
  } else if (describeNatsAuth(auth) === "none" && devRun) {
    const password = state.backendPassword();
    if (password !== undefined) target.auth = { user: "backend", pass: password };
  }
  return target;
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

/**
 * `natsTarget` for a tool: a bad NATS_* variable is bad input (`fail(2, …)`, each named); no server
 * to send to is `fail(1, …)`. Says the target's warning, if any, on stderr.
 */
export function natsTargetOrFail(given: string | undefined, tool: string, fail: (code: number, message: string) => never): NatsTarget {
  let target: NatsTarget;
  try {
    target = natsTarget(given);
  } catch (err) {
    if (err instanceof ConfigError) fail(2, (err instanceof ConfigErrors ? err.errors : [err]).map((e) => e.message).join("; "));
    if (err instanceof NoDevRunError) fail(1, err.message);
    throw err;
  }
  if (target.warning !== undefined) process.stderr.write(`${tool}: warning: ${target.warning}\n`);
  return target;
}

/**
 * One NATS request from a command-line tool. Resolves with the answer's text; rejects with a
 * message fit for the user that names the server and where its URL came from when NATS, its
 * permission or an answer is not there: a subject the user may not publish to is
 * `permission denied: <subject>` at once (nats.js v3 rejects the request with a RequestError whose
 * `cause` is the server's PermissionViolationError), not a timeout; nobody subscribed to the
 * subject is "no notifier is connected to that server", at once too (no responders).
 */
export async function requestOverNats(target: NatsTarget, subject: string, payload: string, timeoutMs: number): Promise<string> {
  const { url, auth } = target;
  const where = `NATS at ${url} (${target.source})`;
  let nc;
  try {
    nc = await connect({ servers: url.split(","), timeout: 5000, ...natsAuthOptions(auth) });
  } catch (err) {
    if (err instanceof AuthorizationError) throw new Error(`${where} refused the credentials (${describeNatsAuth(auth)}): ${err.message}; set NATS_USER and NATS_PASSWORD, NATS_TOKEN or NATS_CREDS`);
    const stale = target.devRun ? "; is that bun run dev still running? (a killed one leaves the file behind)" : "";
    throw new Error(`cannot reach ${where}: ${(err as Error).message}${stale}`);
  }
  try {
    return (await nc.request(subject, payload, { timeout: timeoutMs })).string();
  } catch (err) {
    const denied = permissionViolation(err);
    if (denied?.operation === "publish") throw new Error(`permission denied: ${denied.subject} (connected as ${describeNatsAuth(auth)}, which may not publish there)`);
    if (denied) throw new Error(`permission denied: ${denied.subject} (connected as ${describeNatsAuth(auth)}, which may not subscribe to the reply inbox; a backend's replies arrive under _INBOX.>)`);
    if (noResponders(err)) throw new Error(`nobody answers ${subject} at ${where}: no notifier is connected to that server`);
    throw new Error(`no answer on ${subject} from ${where} within ${timeoutMs / 1000} s: ${(err as Error).message}`);
  } finally {
    await nc.close();
  }
}

/** True when a request failed because nobody subscribes to its subject (nats.js: a NoRespondersError, or a RequestError wrapping one). */
function noResponders(err: unknown): boolean {
  return err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders());
}

/** The server's permission violation behind a failed request (nats.js wraps it in a RequestError's `cause`), or undefined. */
export function permissionViolation(err: unknown): PermissionViolationError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e instanceof PermissionViolationError) return e;
  }
  return undefined;
}
