// ensureStream against a real nats-server: create, bring an existing stream to a new config, and
// two services creating the same stream at once with different limits.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NATS_ADMIN, TestNats } from "@rt/testkit";
import { ensureStream } from "../src/streams.ts";
import { waitFor } from "@rt/testkit";

let nats: TestNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  nats = await TestNats.start();
  nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

test("creates a missing stream, then brings it to a changed config (the storage type cannot change and is left out)", async () => {
  const created = await ensureStream(jsm, { name: "S1", subjects: ["s1.>"], max_msgs_per_subject: 5 });
  expect(created.config.max_msgs_per_subject).toBe(5);
  const updated = await ensureStream(jsm, { name: "S1", subjects: ["s1.>"], max_msgs_per_subject: 9 });
  expect(updated.config.max_msgs_per_subject).toBe(9);
  expect(updated.created).toBe(created.created); // the same stream, not a new one
});

test("two services creating one stream at once with different limits: neither fails (the loser of the create updates)", async () => {
  const results = await Promise.all([
    ensureStream(jsm, { name: "S2", subjects: ["s2.>"], max_msgs_per_subject: 5 }),
    ensureStream(jsm, { name: "S2", subjects: ["s2.>"], max_msgs_per_subject: 7 }),
  ]);
  expect(new Set(results.map((r) => r.config.name))).toEqual(new Set(["S2"]));
  expect([5, 7]).toContain((await jsm.streams.info("S2")).config.max_msgs_per_subject);
});

test("a stream that already has the config is not updated (services ensure it on every reconnect); one that differs is", async () => {
  const config = { name: "S3", subjects: ["s3.>"], max_msgs_per_subject: 5, max_bytes: 1 << 20, duplicate_window: 120_000_000_000, republish: { src: "s3.>", dest: "s3live.>" } };
  await ensureStream(jsm, config);
  const updates: string[] = [];
  const sub = nc.subscribe("$JS.API.STREAM.UPDATE.S3", { callback: (_e, m) => void updates.push(m.subject) });
  await nc.flush();
  for (let i = 0; i < 3; i++) await ensureStream(jsm, config);
  await ensureStream(jsm, { ...config, max_msgs_per_subject: 6 });
  await waitFor("the one update", () => updates.length >= 1);
  await nc.flush();
  sub.unsubscribe();
  expect(updates).toHaveLength(1);
  expect((await jsm.streams.info("S3")).config.max_msgs_per_subject).toBe(6);
});
