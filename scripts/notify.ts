#!/usr/bin/env bun
/**
 * `bun run notify --user alice --body "…" [--title T] [--data JSON] [--key IDEMPOTENCY_KEY]
 *   [--wait-ms N] [--url http://127.0.0.1:8081] [--token BEARER] [--nats [URL]]`
 * Sends one notification and prints the notifier's answer: over HTTP (POST /notifications), or
 * with `--nats` as a NATS request on `notifier.send` (URL: the one given, else NATS_URL, else the
 * nats-server a running `bun run dev` started, found in its state folder: DEV_STATE_DIR, else
 * .tmp/dev; never a guess), as a backend: NATS_USER + NATS_PASSWORD, NATS_TOKEN or NATS_CREDS, else
 * the dev run's backend user.
 * Exit 0: stored (202, or 200 for a repeated key); 2: bad input (a bad NATS_* variable too); 1: the
 * notifier refused or could not be reached, no server was given and no dev run is running, or NATS
 * refused the credentials or the subject (`permission denied: notifier.send`).
 */
import { parseArgs } from "node:util";
import { NOTIFIER_SEND, notifyRequest, type NotifyRequest } from "@rt/protocol";
import { natsTargetOrFail, requestOverNats, takeNats } from "./lib/cli.ts";

const USAGE =
  "usage: bun run notify --user ID --body TEXT [--title T] [--data JSON] [--key IDEMPOTENCY_KEY] [--wait-ms N]\n" +
  "                      [--url http://127.0.0.1:8081] [--token TOKEN] [--nats [nats://host:port]]";

function fail(code: number, message: string): never {
  process.stderr.write(`notify: ${message}${code === 2 ? `\n${USAGE}` : ""}\n`);
  process.exit(code);
}

const { rest, nats } = takeNats(process.argv.slice(2));
let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: rest,
    options: {
      user: { type: "string" },
      body: { type: "string" },
      title: { type: "string" },
      data: { type: "string" },
      key: { type: "string" },
      "wait-ms": { type: "string" },
      url: { type: "string" },
      token: { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  }).values;
}
try {
  args = parse();
} catch (err) {
  fail(2, (err as Error).message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
for (const flag of ["user", "body"] as const) if (args[flag] === undefined) fail(2, `--${flag} is required`);
if (nats && (args.url !== undefined || args.token !== undefined)) fail(2, "--url and --token are for HTTP; --nats sends over NATS");

const request: Record<string, unknown> = { user_id: args.user, body: args.body };
if (args.title !== undefined) request.title = args.title;
if (args.key !== undefined) request.idempotency_key = args.key;
if (args.data !== undefined) {
  try {
    request.data = JSON.parse(args.data);
  } catch {
    fail(2, "--data must be a JSON object");
  }
}
if (args["wait-ms"] !== undefined) {
  if (!/^\d+$/.test(args["wait-ms"])) fail(2, "--wait-ms must be a whole number of milliseconds");
  request.wait_for_delivery_ms = Number(args["wait-ms"]);
}
const checked = notifyRequest.validate(request);
const FLAG: Record<string, string> = { "/user_id": "--user", "/body": "--body", "/title": "--title", "/data": "--data", "/idempotency_key": "--key", "/wait_for_delivery_ms": "--wait-ms" };
if (!checked.ok) fail(2, checked.errors.map((e) => `${FLAG[e.path] ?? (e.path || "request")} ${e.message}`).join("; "));
const body: NotifyRequest = checked.value;
const timeoutMs = 10_000 + (body.wait_for_delivery_ms ?? 0);

/** Prints the answer and exits: 0 when stored, 1 when refused. */
function finish(ok: boolean, text: string, refused: string): never {
  if (ok) {
    process.stdout.write(`${text}\n`);
    process.exit(0);
  }
  fail(1, refused);
}

if (nats) {
  let text: string;
  try {
    text = await requestOverNats(natsTargetOrFail(nats.url, "notify", fail), NOTIFIER_SEND, JSON.stringify(body), timeoutMs);
  } catch (err) {
    fail(1, (err as Error).message);
  }
  const answer = JSON.parse(text) as { status?: number };
  finish(answer.status === undefined, text, `notifier answered ${answer.status}: ${text}`);
}

const base = args.url ?? process.env.NOTIFIER_URL ?? `http://127.0.0.1:${process.env.NOTIFIER_PORT ?? "8081"}`;
const token = args.token ?? process.env.NOTIFIER_TOKEN;
let res: Response;
try {
  res = await fetch(new URL("/notifications", base), {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
} catch (err) {
  fail(1, `cannot reach the notifier at ${base}: ${(err as Error).message}`);
}
const text = await res.text();
finish(res.status === 200 || res.status === 202, text, `notifier answered ${res.status}: ${text}`);
