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
