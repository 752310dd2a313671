#!/usr/bin/env bun
/**
 * `bun run token --user <id> [--ttl 1h] [--connect-channel chat:lobby ...]`: an HS256 JWT for `<id>`
 * signed with JWT_SECRET (the equivalent of `centrifugo gentoken`); each `--connect-channel` goes
 * into the `channels` claim (server-side subscriptions at connect).
 * `bun run token --user <id> --channel <channel> [--ttl 1h] [--info JSON]`: a subscription token
 * for that one channel instead (the equivalent of `centrifugo gensubtoken`: `sub`, `channel`,
 * `exp`, optionally `info`; `--subscription` is the same flag), signed with SUBSCRIPTION_JWT_SECRET
 * when that is set, else as connection tokens are (docs/channels.md). Without JWT_SECRET it
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

const USAGE = [
  "usage: bun run token --user ID [--ttl 1h] [--connect-channel CHANNEL]...   a connection token (its channels subscribed by the server at connect)",
  "       bun run token --user ID --channel CHANNEL [--ttl 1h] [--info JSON]   a subscription token for CHANNEL (any channel name: 1 to 255 of printable ASCII; --subscription is the same)",
  "       (TTL: 30s, 15m, 1h, 7d; at most 365d)",
].join("\n");
/** A channel a subscription token may name: what a channel of a namespace may be (the gateway checks the rest). */
const SUBSCRIPTION_CHANNEL = /^[\x21-\x7e]{1,255}$/;
const MAX_INFO_BYTES = 8192;
const MAX_TTL_MS = 365 * 86_400_000;

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let values: { user?: string; ttl?: string; channel?: string[]; "connect-channel"?: string[]; subscription?: string; info?: string; help?: boolean };
try {
  values = parseArgs({
    options: { user: { type: "string" }, ttl: { type: "string" }, channel: { type: "string", multiple: true }, "connect-channel": { type: "string", multiple: true }, subscription: { type: "string" }, info: { type: "string" }, help: { type: "boolean" } },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (values.user === undefined) fail("--user is required");
if (!isUserId(values.user)) fail("--user must be 1 to 256 printable characters");
const named = [...(values.channel ?? []), ...(values.subscription === undefined ? [] : [values.subscription])];
if (named.length > 1) fail("--channel (or --subscription) names the one channel of a subscription token; a connection token's channels claim is --connect-channel, once per channel");
const subscription = named[0];
if (subscription !== undefined && values["connect-channel"] !== undefined) fail("--channel makes a subscription token, --connect-channel a connection token's channels: not both");
if (subscription !== undefined && !SUBSCRIPTION_CHANNEL.test(subscription)) fail(`--channel ${JSON.stringify(subscription)}: a channel name is 1 to 255 characters of printable ASCII`);
if (values.info !== undefined && subscription === undefined) fail("--info goes with --channel (the subscriber's channel info)");
let info: unknown;
if (values.info !== undefined) {
  try {
    info = JSON.parse(values.info);
  } catch {
    fail("--info must be JSON, e.g. '{\"name\":\"Alice\"}'");
  }
  if (Buffer.byteLength(values.info) > MAX_INFO_BYTES) fail(`--info must be at most ${MAX_INFO_BYTES} bytes`);
}
const channels = values["connect-channel"] ?? [];
// Any channel a server-side subscription may be (the gateway checks it against its CHANNELS_FILE at connect); never an inbox (the user's own is always one).
const badChannel = channels.find((c) => !SUBSCRIPTION_CHANNEL.test(c) || c.startsWith("#"));
if (badChannel !== undefined) fail(`--connect-channel ${badChannel}: a channel is 1 to 255 characters of printable ASCII (chat:<room>, system:monitor, a channel of your CHANNELS_FILE), not #<user> (the user's own is always subscribed)`);
if (channels.length > 127) fail("at most 127 --connect-channel (a connection has 128 channels, the user's own #<user> included)");

let ttlMs: number;
try {
  const r = new EnvReader({ TTL: values.ttl });
  ttlMs = r.done(r.duration("TTL", 3_600_000, 1000, MAX_TTL_MS));
} catch (err) {
  fail(`--ttl ${(err as ConfigError).message.slice("TTL: ".length)}`);
}

const subscriptionSecret = subscription === undefined ? undefined : process.env.SUBSCRIPTION_JWT_SECRET || undefined;
let secret = subscriptionSecret ?? process.env.JWT_SECRET;
if (secret === undefined || secret === "") {
  const state = DevState.of();
  secret = state.existingJwtSecret();
  if (secret === undefined) fail(`JWT_SECRET is not set (export it, or take compose's: bun --env-file=.env run token …), and no \`bun run dev\` secret exists (${state.file("jwtSecret")})`);
  process.stderr.write(`token: JWT_SECRET is not set: signed with the \`bun run dev\` secret (${state.file("jwtSecret")})\n`);
}
if (Buffer.byteLength(secret) < 32) fail(`${subscriptionSecret === undefined ? "JWT_SECRET" : "SUBSCRIPTION_JWT_SECRET"} must be at least 32 bytes (the gateway refuses shorter ones)`);
const claims = subscription !== undefined ? { channel: subscription, ...(info === undefined ? {} : { info }) } : channels.length > 0 ? { channels } : {};
process.stdout.write(`${signHs256(secret, values.user, Math.floor(ttlMs / 1000), Date.now(), claims)}\n`);
