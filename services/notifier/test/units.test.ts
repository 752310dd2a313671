import { expect, test } from "bun:test";
import { bearerAuthorizer } from "../src/auth.ts";
import { loadConfig } from "../src/config.ts";
import { LruMap } from "../src/lru.ts";
import { idempotencyMsgId } from "../src/publish.ts";
import { KeyedSerializer } from "../src/serial.ts";
import { MAX_BATCH_REQUEST_BYTES, parseBody } from "../src/request.ts";
import { MAX_REQUEST_BYTES, NOTIFICATIONS_MAX_MSG_SIZE } from "@rt/protocol";

test("LruMap forgets the least recently used entry", () => {
  const m = new LruMap<string, number>(2);
  m.set("a", 1);
  m.set("b", 2);
  expect(m.get("a")).toBe(1); // a is now the most recent
  m.set("c", 3);
  expect([m.get("a"), m.get("b"), m.get("c"), m.size]).toEqual([1, undefined, 3, 2]);
});

test("KeyedSerializer runs one key's tasks in order, other keys alongside, and survives failures", async () => {
  const s = new KeyedSerializer<string>();
  const log: string[] = [];
  /** A task that runs until its gate opens; `started` resolves when it begins. */
  const task = (name: string, fail = false) => {
    const gate = Promise.withResolvers<void>();
    const started = Promise.withResolvers<void>();
    const run = async () => {
      log.push(`start ${name}`);
      started.resolve();
      await gate.promise;
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
    return { run, open: gate.resolve, started: started.promise };
  };
  const [u1, u2, v1] = [task("u1", true), task("u2"), task("v1")];
  const results = Promise.allSettled([s.run("u", u1.run), s.run("u", u2.run), s.run("v", v1.run)]);
  await Promise.all([u1.started, v1.started]); // another key runs alongside u1
  expect(log).not.toContain("start u2"); // u2 waits for u1
  v1.open();
  u2.open();
  await s.run("v", async () => undefined); // v's queue is through: v1 ended while u1 still runs
  expect(log).toContain("end v1");
  expect(log).not.toContain("end u1");
  expect(log).not.toContain("start u2");
  u1.open();
  expect((await results).map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
  expect(log.indexOf("start u2")).toBeGreaterThan(log.indexOf("end u1"));
  expect(log.indexOf("end v1")).toBeLessThan(log.indexOf("end u1"));
  expect(s.pending).toBe(0);
});

test("bearerAuthorizer accepts only listed tokens", () => {
  const open = bearerAuthorizer(undefined);
  expect([open.enforced, open.allows(null)]).toEqual([false, true]);
  const a = bearerAuthorizer(["t1", "another-token"]);
  expect(a.enforced).toBe(true);
  expect(["Bearer t1", "bearer another-token", "Bearer  t1 "].map((h) => a.allows(h))).toEqual([true, true, true]);
  expect([null, "", "Bearer", "Bearer t", "Bearer t1x", "Basic t1", "t1", "Bearer t1 t1"].map((h) => a.allows(h))).toEqual(Array(8).fill(false));
});

test("idempotency msg ids are hex sha256, scoped to the user", () => {
  expect(idempotencyMsgId("u", "k")).toMatch(/^[0-9a-f]{64}$/);
  expect(idempotencyMsgId("u", "k")).toBe(idempotencyMsgId("u", "k"));
  expect(idempotencyMsgId("ab", "c")).not.toBe(idempotencyMsgId("a", "bc"));
});

test("config defaults", () => {
  const { channels, ...rest } = loadConfig({});
  expect(rest).toEqual({
    port: 8081, host: "0.0.0.0", reusePort: false, natsUrl: ["nats://127.0.0.1:4222"], natsAuth: {}, tokens: undefined,
    dedupWindowMs: 3_600_000, maxAgeMs: 7 * 86_400_000, maxPerUser: 1000, maxBytes: 1024 ** 3, replicas: 1, maxMessageBytes: 65_536, logLevel: "info",
  });
  expect(channels.all().map((ns) => ns.name)).toEqual(["chat"]); // without CHANNELS_FILE: the built-in chat
  // The gateways' variable, with their default and bounds.
  expect(loadConfig({ MAX_MESSAGE_BYTES: "4096" }).maxMessageBytes).toBe(4096);
  expect(() => loadConfig({ MAX_MESSAGE_BYTES: "15" })).toThrow("MAX_MESSAGE_BYTES");
  expect(() => loadConfig({ MAX_MESSAGE_BYTES: "64k" })).toThrow("MAX_MESSAGE_BYTES");
  expect(loadConfig({ NOTIFIER_TOKENS: "a, b,,", NOTIFIER_DEDUP_WINDOW: "90s", NOTIFICATIONS_MAX_AGE: "1d" })).toMatchObject({ tokens: ["a", "b"], dedupWindowMs: 90_000, maxAgeMs: 86_400_000 });
  expect(loadConfig({ NATS_TOKEN: "tok" }).natsAuth).toEqual({ token: "tok" });
  expect(loadConfig({ NOTIFICATIONS_MAX_BYTES: "1048576" }).maxBytes).toBe(1048576);
  // At least two of the largest stored notifications (with their headers: the stream's max_msg_size).
  expect(() => loadConfig({ NOTIFICATIONS_MAX_BYTES: String(2 * NOTIFICATIONS_MAX_MSG_SIZE - 1) })).toThrow(`NOTIFICATIONS_MAX_BYTES: must be between ${2 * NOTIFICATIONS_MAX_MSG_SIZE} and`);
  expect(() => loadConfig({ NOTIFICATIONS_MAX_BYTES: "1GiB" })).toThrow('NOTIFICATIONS_MAX_BYTES: must be a whole number, got "1GiB"');
  expect(loadConfig({ REUSE_PORT: "1" }).reusePort).toBe(true);
  expect(() => loadConfig({ REUSE_PORT: "shared" })).toThrow("REUSE_PORT: must be 1 or 0");
  expect(() => loadConfig({ NATS_TOKEN: "tok", NATS_USER: "notifier", NATS_PASSWORD: "pw" })).toThrow("NATS_TOKEN: cannot be combined with NATS_USER/NATS_PASSWORD");
});

test("the API's key: X-API-Key alone decides when present; else Authorization apikey or Bearer; no tokens: anyone", () => {
  const a = bearerAuthorizer(["k1", "k2"]);
  const h = (init: Record<string, string>) => new Headers(init);
  expect(a.allowsApi(h({ "x-api-key": "k2" }))).toBe(true);
  expect(a.allowsApi(h({ "x-api-key": " k1 " }))).toBe(true);
  expect(a.allowsApi(h({ authorization: "apikey k1" }))).toBe(true);
  expect(a.allowsApi(h({ authorization: "ApiKey  k1" }))).toBe(true);
  expect(a.allowsApi(h({ authorization: "Bearer k2" }))).toBe(true);
  expect(a.allowsApi(h({ "x-api-key": "nope", authorization: "apikey k1" }))).toBe(false);
  expect(a.allowsApi(h({ authorization: "k1" }))).toBe(false);
  expect(a.allowsApi(h({ authorization: "Basic k1" }))).toBe(false);
  expect(a.allowsApi(h({}))).toBe(false);
  expect(bearerAuthorizer(undefined).allowsApi(h({}))).toBe(true);
  // /notifications keeps taking bearer tokens only
  expect(a.allows("apikey k1")).toBe(false);
});

test("parseBody: one notification, or a batch of 1 to 1000 each checked alone (errors pointed into the array); sizes", () => {
  const b = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));
  const one = parseBody(b({ user_id: "u", body: "x" }));
  expect(one.ok && "request" in one && one.request.user_id).toBe("u");
  const batch = parseBody(b([{ user_id: "u", body: "x" }, { user_id: "", body: "y" }, 5]));
  expect(batch.ok && "batch" in batch).toBe(true);
  const items = (batch as { batch: Array<{ ok: boolean; outcome?: { status: number; body: { errors: Array<{ path: string }> } } }> }).batch;
  expect(items.map((i) => i.ok)).toEqual([true, false, false]);
  expect(items[1]!.outcome!.body.errors[0]!.path).toBe("/1/user_id");
  expect(items[2]!.outcome!.body.errors[0]!.path).toBe("/2");
  for (const bad of [[], Array.from({ length: 1001 }, () => ({ user_id: "u", body: "x" }))]) {
    const r = parseBody(b(bad));
    expect(!r.ok && r.outcome.status).toBe(400);
  }
  const big = parseBody(b({ user_id: "u", body: "x", pad: "p".repeat(MAX_REQUEST_BYTES) }));
  expect(!big.ok && big.outcome.status).toBe(413);
  const bigBatch = parseBody(b(Array.from({ length: 20 }, () => ({ user_id: "u", body: "x".repeat(20_000) }))));
  expect(bigBatch.ok).toBe(true); // over one notification's limit, within a batch's
  expect(!parseBody(Buffer.alloc(MAX_BATCH_REQUEST_BYTES + 1, 0x20)).ok).toBe(true);
});
