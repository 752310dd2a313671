import { afterAll, beforeAll, expect, test } from "bun:test";
import { userLiveSubject, userStoreSubject } from "@rt/protocol";
import { Fixture, liveEvents, subjectCounts, uniqueUser } from "./helpers.ts";

let f: Fixture;
beforeAll(async () => {
  f = await Fixture.start();
});
afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
});

test("the same key twice: 202 then 200 with the same {id, seq}, one message stored", async () => {
  const user = uniqueUser();
  const first = await f.post({ user_id: user, body: "once", idempotency_key: "order-42" });
  expect(first.status).toBe(202);
  // The repeat may even differ in content: the first notification wins.
  const again = await f.post({ user_id: user, body: "twice", idempotency_key: "order-42" });
  expect(again.status).toBe(200);
  expect(again.json).toEqual(first.json);
  const stored = await f.stored(userStoreSubject(user));
  expect(stored.map((s) => [s.id, s.seq, s.body])).toEqual([[first.json.id, first.json.seq, "once"]]);
  expect((await subjectCounts(f.nc))[userStoreSubject(user)]).toBe(1);
});

test("a repeat after other notifications still answers the first {id, seq} and leaves the chain intact", async () => {
  const user = uniqueUser();
  const keyed = await f.post({ user_id: user, body: "k", idempotency_key: "k1" });
  const plain = await f.post({ user_id: user, body: "p" });
  const repeat = await f.post({ user_id: user, body: "k", idempotency_key: "k1" });
  expect(repeat.status).toBe(200);
  expect(repeat.json).toEqual(keyed.json);
  const next = await f.post({ user_id: user, body: "n" });
  const stored = await f.stored(userStoreSubject(user));
  expect(stored.map((s) => s.seq)).toEqual([keyed.json.seq, plain.json.seq, next.json.seq]);
  expect(stored.map((s) => s.prev_seq)).toEqual([0, keyed.json.seq, plain.json.seq]);
});

test("a repeat publishes the first notification's live event again", async () => {
  const user = uniqueUser();
  const live = await liveEvents(f.nc, userLiveSubject(user));
  const first = await f.post({ user_id: user, body: "b", idempotency_key: "again" });
  await f.post({ user_id: user, body: "other", idempotency_key: "again" });
  const [e1, e2] = [await live.next(), await live.next()];
  expect(e1).toEqual(e2);
  expect(e2).toMatchObject({ id: first.json.id, seq: first.json.seq, body: "b" });
});

test("the same key for a different user is a new notification", async () => {
  const [a, b] = [uniqueUser("a"), uniqueUser("b")];
  const ra = await f.post({ user_id: a, body: "x", idempotency_key: "shared" });
  const rb = await f.post({ user_id: b, body: "x", idempotency_key: "shared" });
  expect([ra.status, rb.status]).toEqual([202, 202]);
  expect(rb.json.id).not.toBe(ra.json.id);
  expect(rb.json.seq).not.toBe(ra.json.seq);
});

test("keys are scoped so that user_id and key cannot be shifted into each other", async () => {
  const ra = await f.post({ user_id: "ab", body: "x", idempotency_key: "c" });
  const rb = await f.post({ user_id: "a", body: "x", idempotency_key: "bc" });
  expect([ra.status, rb.status]).toEqual([202, 202]);
});

test("a repeat of a notification already trimmed from the inbox answers 200 with its real id and seq (not an empty id)", async () => {
  await using g = await Fixture.start({ NOTIFICATIONS_MAX_PER_USER: "1" });
  const user = uniqueUser();
  const first = await g.post({ user_id: user, body: "first", idempotency_key: "trim-me" });
  expect(first.status).toBe(202);
  await g.post({ user_id: user, body: "second" }); // the per-user limit of 1 trims the first
  expect((await g.stored(userStoreSubject(user))).map((s) => s.body)).toEqual(["second"]);
  const again = await g.post({ user_id: user, body: "first", idempotency_key: "trim-me" });
  expect(again.status).toBe(200);
  expect(again.json).toEqual(first.json);
  expect(again.json.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
});

test("only keyed notifications carry a dedup id (Nats-Msg-Id): unkeyed ones take no dedup entry on the server", async () => {
  const user = uniqueUser();
  await f.post({ user_id: user, body: "plain" });
  await f.post({ user_id: user, body: "keyed", idempotency_key: "one" });
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const jsm = await jetstreamManager(f.nc);
  const stored = await f.stored(userStoreSubject(user));
  const ids = await Promise.all(stored.map(async (s) => (await jsm.streams.getMessage("NOTIFICATIONS", { seq: s.seq }))!.header.get("Nats-Msg-Id")));
  expect(ids[0]).toBe("");
  expect(ids[1]).toMatch(/^[0-9a-f]{64}$/);
});
