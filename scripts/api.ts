#!/usr/bin/env bun
/**
 * `bun run api <method> ['<json>'] [--url http://127.0.0.1:8081] [--token TOKEN] [--nats [URL]]`
 * One call of the server API (Centrifugo's: publish, broadcast, subscribe, unsubscribe, disconnect,
 * refresh, history, history_remove, presence, presence_stats, channels, info, batch), for operators: over HTTP (`POST /api/<method>`
 * with the token as X-API-Key: --token, else NOTIFIER_TOKEN) or with `--nats` as a request on
 * `api.<method>` (URL: the one given, else NATS_URL, else the running `bun run dev`'s, from its state
 * folder: DEV_STATE_DIR, else .tmp/dev; never a guess; as a backend: NATS_USER + NATS_PASSWORD,
 * NATS_TOKEN or NATS_CREDS, else the dev run's backend user). Prints the answer. Exit 0: answered
 * with a result; 1: an error answer (an error inside a batch or a broadcast too), the notifier could
 * not be reached, no server was given and no dev run is running, or NATS refused the credentials or
 * the subject (`permission denied: api.<method>`); 2: bad input (checked here first; a bad NATS_*
 * variable too).
 */
import { parseArgs } from "node:util";
import { API_METHODS, isApiMethod } from "@rt/protocol";
import { natsTargetOrFail, requestOverNats, takeNats } from "./lib/cli.ts";

const USAGE = `usage: bun run api <method> ['<json>'] [--url http://127.0.0.1:8081] [--token TOKEN] [--nats [nats://host:port]]\n  methods: ${Object.keys(API_METHODS).join(", ")}`;
const TIMEOUT_MS = 15_000;

function fail(code: number, message: string): never {
  process.stderr.write(`api: ${message}${code === 2 ? `\n${USAGE}` : ""}\n`);
  process.exit(code);
}

const { rest, nats } = takeNats(process.argv.slice(2));
let parsed: { values: { url?: string; token?: string; help?: boolean }; positionals: string[] };
try {
  parsed = parseArgs({ args: rest, options: { url: { type: "string" }, token: { type: "string" }, help: { type: "boolean" } }, allowPositionals: true, strict: true });
} catch (err) {
  fail(2, (err as Error).message);
}
if (parsed.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const [method, json = "{}", ...extra] = parsed.positionals;
if (method === undefined) fail(2, "a method is required");
if (extra.length > 0) fail(2, "one JSON argument only (quote it)");
if (!isApiMethod(method)) fail(2, `unknown method ${method}`);
if (nats && (parsed.values.url !== undefined || parsed.values.token !== undefined)) fail(2, "--url and --token are for HTTP; --nats sends over NATS");
let body: unknown;
try {
  body = JSON.parse(json);
} catch {
  fail(2, "the request must be JSON, e.g. '{\"channel\":\"chat:lobby\",\"data\":{\"text\":\"hi\"}}'");
}
const checked = API_METHODS[method].validator.validate(body);
if (!checked.ok) fail(2, checked.errors.map((e) => `${e.path || "request"} ${e.message}`).join("; "));

/** True when the answer, or a reply or response inside it, is an error. */
function refused(answer: { error?: unknown; replies?: Array<{ error?: unknown }>; result?: { responses?: Array<{ error?: unknown }> } }): boolean {
  return answer.error !== undefined || (answer.replies ?? []).some((r) => r.error !== undefined) || (answer.result?.responses ?? []).some((r) => r.error !== undefined);
}

let text: string;
if (nats) {
  try {
    text = await requestOverNats(natsTargetOrFail(nats.url, "api", fail), `api.${method}`, JSON.stringify(body), TIMEOUT_MS);
  } catch (err) {
    fail(1, (err as Error).message);
  }
} else {
  const base = parsed.values.url ?? process.env.NOTIFIER_URL ?? `http://127.0.0.1:${process.env.NOTIFIER_PORT ?? "8081"}`;
  const token = parsed.values.token ?? process.env.NOTIFIER_TOKEN;
  let res: Response;
  try {
    res = await fetch(new URL(`/api/${method}`, base), {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { "x-api-key": token } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    fail(1, `cannot reach the notifier at ${base}: ${(err as Error).message}`);
  }
  text = await res.text();
  if (res.status !== 200) fail(1, `notifier answered ${res.status}: ${text}`);
}
process.stdout.write(`${text}\n`);
let answer;
try {
  answer = JSON.parse(text) as Parameters<typeof refused>[0];
} catch {
  fail(1, "the answer is not JSON");
}
process.exit(refused(answer) ? 1 : 0);
