import { afterAll, beforeAll, expect, test } from "bun:test";
import { NOTIFIER_SEND, userLiveSubject, userStoreSubject } from "@rt/protocol";
import { Fixture, liveEvents, uniqueUser } from "./helpers.ts";

let f: Fixture;
beforeAll(async () => {
  f = await Fixture.start();
});
afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const send = async (payload: unknown, raw = false): Promise<any> =>
  (await f.nc.request(NOTIFIER_SEND, raw ? (payload as string | Uint8Array) : JSON.stringify(payload), { timeout: 5000 })).json();

test("a request on notifier.send stores the notification and answers {id, seq}", async () => {
  const user = uniqueUser();
  const live = await liveEvents(f.nc, userLiveSubject(user));
  const a = await send({ user_id: user, body: "over nats", title: "hi" });
  expect(Object.keys(a).sort()).toEqual(["epoch", "id", "seq"]);
  expect((await live.next()).id).toBe(a.id);
  const b = await f.post({ user_id: user, body: "over http" });
  const stored = await f.stored(userStoreSubject(user));
  expect(stored.map((s) => [s.id, s.seq, s.prev_seq])).toEqual([[a.id, a.seq, 0], [b.json.id, b.json.seq, a.seq]]);
});

test("idempotency works across HTTP and NATS alike", async () => {
  const user = uniqueUser();
  const first = await send({ user_id: user, body: "x", idempotency_key: "k" });
  expect(await send({ user_id: user, body: "x", idempotency_key: "k" })).toEqual(first);
  const viaHttp = await f.post({ user_id: user, body: "x", idempotency_key: "k" });
  expect([viaHttp.status, viaHttp.json]).toEqual([200, first]);
});

test("errors carry the HTTP status they would have", async () => {
  const bad = await send({ user_id: "", body: 1 });
  expect(bad.status).toBe(400);
  expect(bad.errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(["/user_id", "/body"]));
  expect(await send("{{{", true)).toEqual({ errors: [{ path: "", message: "must be valid JSON" }], status: 400 });
  expect((await send(new Uint8Array([0xff, 0x00, 0x80]), true)).status).toBe(400);
  expect((await send("", true)).status).toBe(400);
  expect((await send({ user_id: "u", body: "x".repeat(65 * 1024) })).status).toBe(413);
  expect((await send({ user_id: "u", body: "x", data: { y: "z".repeat(300 * 1024) } })).status).toBe(413);
});

test("garbage does not stop the responder", async () => {
  f.nc.publish(NOTIFIER_SEND, new Uint8Array([1, 2, 3])); // no reply subject
  f.nc.publish(NOTIFIER_SEND, JSON.stringify({ user_id: uniqueUser(), body: "fire and forget" }));
  await f.nc.flush();
  const a = await send({ user_id: uniqueUser(), body: "still here" });
  expect(a.seq).toBeGreaterThan(0);
  expect(f.svc.proc.exitCode).toBeNull();
});
