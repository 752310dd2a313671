#!/usr/bin/env bun
/**
 * `bun run notify --user alice --body "…" [--title T] [--data JSON] [--key IDEMPOTENCY_KEY]
 *   [--wait-ms N] [--url http://127.0.0.1:8081] [--token BEARER]`
 * Sends one notification through the notifier's HTTP API and prints its answer.
 * Exit 0: stored (202, or 200 for a repeated key); 2: bad input; 1: the notifier refused or could not be reached.
 */
import { parseArgs } from "node:util";
import { notifyRequest, type NotifyRequest } from "@rt/protocol";

function fail(code: number, message: string): never {
  process.stderr.write(`notify: ${message}\n`);
  process.exit(code);
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
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
  fail(2, `${(err as Error).message} (see --help)`);
}
if (args.help) {
  process.stdout.write("usage: bun run notify --user ID --body TEXT [--title T] [--data JSON] [--key IDEMPOTENCY_KEY] [--wait-ms N] [--url URL] [--token TOKEN]\n");
  process.exit(0);
}

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

const base = args.url ?? process.env.NOTIFIER_URL ?? `http://127.0.0.1:${process.env.NOTIFIER_PORT ?? "8081"}`;
const token = args.token ?? process.env.NOTIFIER_TOKEN;
let res: Response;
try {
  res = await fetch(new URL("/notifications", base), {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000 + (body.wait_for_delivery_ms ?? 0)),
  });
} catch (err) {
  fail(1, `cannot reach the notifier at ${base}: ${(err as Error).message}`);
}
const text = await res.text();
if (res.status === 200 || res.status === 202) {
  process.stdout.write(`${text}\n`);
  process.exit(0);
}
fail(1, `notifier answered ${res.status}: ${text}`);
