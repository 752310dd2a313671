import { afterAll, beforeAll, expect, test } from "bun:test";
import { deliveredSubject, type LiveNotification, userLiveSubject } from "@rt/protocol";
import { Fixture, uniqueUser } from "./helpers.ts";

let f: Fixture;
beforeAll(async () => {
  f = await Fixture.start();
});
afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
});

test("wait_for_delivery_ms with no gateway listening answers delivered:false after about N ms", async () => {
  const started = performance.now();
  const r = await f.post({ user_id: uniqueUser(), body: "x", wait_for_delivery_ms: 300 });
  const took = performance.now() - started;
  expect(r.status).toBe(202);
  expect(r.json).toEqual({ id: expect.any(String), seq: expect.any(Number), epoch: expect.any(String), delivered: false });
  expect(took).toBeGreaterThanOrEqual(290);
  expect(took).toBeLessThan(2000);
});

test("a receipt on deliveredSubject(id) answers delivered:true at once", async () => {
  const user = uniqueUser();
  // A stand-in gateway: acknowledges each live event as soon as it sees it.
  const sub = f.nc.subscribe(userLiveSubject(user), {
    callback: (_err, msg) => f.nc.publish(deliveredSubject(msg.json<LiveNotification>().id)),
  });
  await f.nc.flush();
  const started = performance.now();
  const r = await f.post({ user_id: user, body: "x", wait_for_delivery_ms: 5000 });
  expect(r.status).toBe(202);
  expect(r.json.delivered).toBe(true);
  expect(performance.now() - started).toBeLessThan(2000);
  // An idempotent repeat answers what the first was told (recorded once its wait was over), without waiting for a receipt of its own.
  const again = await f.post({ user_id: user, body: "x", wait_for_delivery_ms: 5000, idempotency_key: "d" });
  sub.unsubscribe(); // no stand-in gateway any more: only the record can say delivered
  const repeat = await f.post({ user_id: user, body: "x", wait_for_delivery_ms: 5000, idempotency_key: "d" });
  expect([again.status, again.json.delivered, repeat.status, repeat.json.delivered]).toEqual([202, true, 200, true]);
  expect(repeat.json).toEqual(again.json);
});

test("without wait_for_delivery_ms the answer has no delivered field", async () => {
  const r = await f.post({ user_id: uniqueUser(), body: "x" });
  expect("delivered" in r.json).toBe(false);
});
