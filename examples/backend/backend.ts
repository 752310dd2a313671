// An example backend that decides for the gateways over NATS (docs/proxy.md), with nothing but
// @nats-io/transport-node: it authenticates browsers by a session cookie (proxy.connect), keeps
// `club:lounge` for members only (proxy.subscribe), signs every publication in `club:` with its
// author's display name (proxy.publish), and answers the RPC `whoami`.
//   PROXY_CONNECT=1 PROXY_HTTP_HEADERS=cookie CHANNELS_FILE=examples/backend/channels.json bun run dev
//   bun run example:backend        # as many as you like: they share the work (one queue group)
// It finds the dev run's NATS URL and the `backend` user's password in .tmp/dev/backend.env (or
// DEV_STATE_DIR's), or takes NATS_URL, NATS_USER and NATS_PASSWORD from the environment.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { connect, type Msg } from "@nats-io/transport-node";

type Json = Record<string, unknown>;

/** Sessions your login would have made: the cookie `session=<id>` -> who. */
const SESSIONS: Record<string, { user: string; name: string }> = {
  "alice-session": { user: "alice", name: "Alice Liddell" },
  "bob-session": { user: "bob", name: "Bob Dylan" },
};
/** Members-only channels and their members. */
const MEMBERS: Record<string, string[]> = { "club:lounge": ["alice"] };

/** Gateways send every request with a reply subject under this prefix: answer nowhere else. */
export const REPLY_PREFIX = "_INBOX_gateway.proxy.";

/** proxy.connect: the `session` cookie names the user; no session, no connection (4501: the SDK stops). */
export function onConnect(req: Json): Json {
  const cookie = (req.headers as Record<string, string> | undefined)?.cookie ?? "";
  const id = /(?:^|;\s*)session=([^;]*)/.exec(cookie)?.[1];
  const session = id === undefined ? undefined : SESSIONS[id];
  if (!session) return { disconnect: { code: 4501, reason: "unauthorized" } };
  // `meta` comes back with every later request of this connection; `info` is shown to others.
  return { result: { user: session.user, info: { name: session.name }, meta: { name: session.name } } };
}

/** proxy.subscribe: a members-only channel takes its members; any other channel of `club:` anyone signed in. */
export function onSubscribe(req: Json): Json {
  const members = MEMBERS[String(req.channel)];
  if (req.user === "" || (members !== undefined && !members.includes(String(req.user)))) return { error: { code: 403, message: "members only" } };
  return { result: {} };
}

/** proxy.publish: what is published is the client's object with its author's display name added. */
export function onPublish(req: Json): Json {
  if (typeof req.data !== "object" || req.data === null || Array.isArray(req.data)) return { error: { code: 400, message: "publish an object" } };
  const author = (req.meta as Json | undefined)?.name ?? req.user;
  return { result: { data: { ...(req.data as Json), author } } };
}

/** rpc.whoami: who the gateway says is asking. */
export function onWhoami(req: Json): Json {
  return { result: { data: { user: req.user, name: (req.meta as Json | undefined)?.name ?? null } } };
}

export const HANDLERS: Record<string, (req: Json) => Json> = {
  "proxy.connect": onConnect,
  "proxy.subscribe": onSubscribe,
  "proxy.publish": onPublish,
  "rpc.whoami": onWhoami,
};

/** One request: its answer, or nothing when its reply subject is not a gateway's (a forged request). */
export function answer(subject: string, reply: string | undefined, body: string): string | undefined {
  if (reply === undefined || !reply.startsWith(REPLY_PREFIX)) return undefined;
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch {
    return JSON.stringify({ error: { code: 400, message: "not JSON" } });
  }
  const handle = HANDLERS[subject];
  if (!handle || typeof req !== "object" || req === null) return JSON.stringify({ error: { code: 400, message: "bad request" } });
  return JSON.stringify(handle(req as Json));
}

/** NATS_URL, NATS_USER, NATS_PASSWORD from the environment, else from the running `bun run dev`'s backend.env. */
function natsOptions(): { servers: string; user?: string; pass?: string } {
  let env: Record<string, string | undefined> = process.env;
  if (!env.NATS_URL) {
    const file = join(resolve(env.DEV_STATE_DIR || join(import.meta.dir, "../../.tmp/dev")), "backend.env");
    try {
      env = Object.fromEntries(readFileSync(file, "utf8").split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    } catch {
      throw new Error(`no NATS_URL, and no running \`bun run dev\` (${file} does not exist)`);
    }
  }
  return { servers: env.NATS_URL!, ...(env.NATS_USER ? { user: env.NATS_USER, pass: env.NATS_PASSWORD ?? "" } : {}) };
}

if (import.meta.main) {
  const opts = natsOptions();
  const nc = await connect({ ...opts, name: "example-backend", maxReconnectAttempts: -1 });
  for (const subject of Object.keys(HANDLERS)) {
    nc.subscribe(subject, {
      queue: "example-backend",
      callback: (err, msg: Msg) => {
        const text = err ? undefined : answer(msg.subject, msg.reply, msg.string());
        if (text !== undefined) msg.respond(text);
      },
    });
  }
  await nc.flush();
  console.log(`example backend: serving ${Object.keys(HANDLERS).join(", ")} on ${opts.servers} as ${opts.user ?? "(no user)"}`);
}
