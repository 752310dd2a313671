import { expect, test } from "bun:test";
import { bearerAuthorizer } from "../src/auth.ts";
import { loadConfig } from "../src/config.ts";
import { LruMap } from "../src/lru.ts";
import { idempotencyMsgId } from "../src/publish.ts";
import { KeyedSerializer } from "../src/serial.ts";

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
  const task = (name: string, ms: number, fail = false) => async () => {
    log.push(`start ${name}`);
    await Bun.sleep(ms);
    log.push(`end ${name}`);
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([s.run("u", task("u1", 30, true)), s.run("u", task("u2", 1)), s.run("v", task("v1", 1))]);
  expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
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
  expect(loadConfig({})).toEqual({
    port: 8081, host: "0.0.0.0", natsUrl: ["nats://127.0.0.1:4222"], tokens: undefined,
    dedupWindowMs: 3_600_000, maxAgeMs: 7 * 86_400_000, maxPerUser: 1000, replicas: 1, logLevel: "info",
  });
  expect(loadConfig({ NOTIFIER_TOKENS: "a, b,,", NOTIFIER_DEDUP_WINDOW: "90s", NOTIFICATIONS_MAX_AGE: "1d" })).toMatchObject({ tokens: ["a", "b"], dedupWindowMs: 90_000, maxAgeMs: 86_400_000 });
});
