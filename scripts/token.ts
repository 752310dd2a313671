#!/usr/bin/env bun
/**
 * `bun run token --user <id> [--ttl 1h] [--channel chat:lobby ...]`: an HS256 JWT for `<id>` signed
 * with JWT_SECRET (the equivalent of `centrifugo gentoken`); each `--channel` goes into the
 * `channels` claim (server-side subscriptions on /connection/websocket). Without JWT_SECRET it
 * signs with the secret `bun run dev` keeps in its state folder (DEV_STATE_DIR, else .tmp/dev):
 * jwt-secret. No .env is read (bunfig.toml): for a compose deployment's secret,
 * `bun --env-file=.env run token --user ID`. Prints only the token on stdout:
 * `TOKEN=$(bun run token --user demo)`.
 * Exit 2: bad input or no secret.
 */
import { parseArgs } from "node:util";
import { isUserId } from "@rt/protocol";
import { ConfigError, EnvReader } from "@rt/runtime";
import { DevState } from "./lib/dev-state.ts";
import { signHs256 } from "./lib/jwt.ts";

const USAGE = "usage: bun run token --user ID [--ttl 1h] [--channel CHANNEL]...   (TTL: 30s, 15m, 1h, 7d; at most 365d; channels: chat:<room>, system:monitor)";
const CHANNEL = /^(chat:[A-Za-z0-9_-]{1,64}|system:monitor)$/;
const MAX_TTL_MS = 365 * 86_400_000;

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: { user?: string; ttl?: string; channel?: string[]; help?: boolean };
try {
  values = parseArgs({ options: { user: { type: "string" }, ttl: { type: "string" }, channel: { type: "string", multiple: true }, help: { type: "boolean" } }, strict: true }).values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (values.user === undefined) fail("--user is required");
if (!isUserId(values.user)) fail("--user must be 1 to 256 printable characters");
const channels = values.channel ?? [];
const badChannel = channels.find((c) => !CHANNEL.test(c));
if (badChannel !== undefined) fail(`--channel ${badChannel}: a token can subscribe to chat:<room> (1 to 64 of A-Z a-z 0-9 _ -) or system:monitor`);
if (channels.length > 127) fail("at most 127 --channel (a connection has 128 channels, the user's own #<user> included)");

let ttlMs: number;
try {
  const r = new EnvReader({ TTL: values.ttl });
  ttlMs = r.done(r.duration("TTL", 3_600_000, 1000, MAX_TTL_MS));
} catch (err) {
  fail(`--ttl ${(err as ConfigError).message.slice("TTL: ".length)}`);
}

let secret = process.env.JWT_SECRET;
if (secret === undefined || secret === "") {
  const state = DevState.of();
  secret = state.existingJwtSecret();
  if (secret === undefined) fail(`JWT_SECRET is not set (export it, or take compose's: bun --env-file=.env run token …), and no \`bun run dev\` secret exists (${state.file("jwtSecret")})`);
  process.stderr.write(`token: JWT_SECRET is not set: signed with the \`bun run dev\` secret (${state.file("jwtSecret")})\n`);
}
if (Buffer.byteLength(secret) < 32) fail("JWT_SECRET must be at least 32 bytes (the gateway refuses shorter ones)");
process.stdout.write(`${signHs256(secret, values.user, Math.floor(ttlMs / 1000), Date.now(), channels.length > 0 ? { channels } : {})}\n`);
