import { expect, test } from "bun:test";
import { userStoreSubject } from "@rt/protocol";
import { waitFor } from "@rt/testkit";
import { Fixture, uniqueUser } from "./helpers.ts";

const readyz = async (f: Fixture) => (await fetch(`${f.svc.http}/readyz`)).status;

test("503 with Retry-After while NATS is down, 202 again after it is back, nothing lost", async () => {
  await using f = await Fixture.start();
  const user = uniqueUser();
  const before = [];
  for (let i = 0; i < 3; i++) before.push((await f.post({ user_id: user, body: `before ${i}` })).json);

  await f.nats.stop();
  // Right away (the notifier may not have noticed yet): still never a 202.
  const early = await f.post({ user_id: user, body: "during" });
  expect(early.status).toBe(503);
  await waitFor("readyz 503", async () => (await readyz(f)) === 503, 10_000);
  for (const body of [{ user_id: user, body: "during" }, { user_id: uniqueUser(), body: "other" }]) {
    const r = await f.post(body);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(r.json.errors).toEqual([{ path: "", message: expect.any(String) }]);
  }
  // Invalid input is still answered as such.
  expect((await f.post({ user_id: "" })).status).toBe(400);

  await f.nats.restart();
  await waitFor("readyz 200", async () => (await readyz(f)) === 200, 15_000);
  const after = await f.post({ user_id: user, body: "after" });
  expect(after.status).toBe(202);
  await f.nc.flush(); // the test connection has reconnected too
  const stored = await f.stored(userStoreSubject(user));
  expect(stored.map((s) => s.body)).toEqual(["before 0", "before 1", "before 2", "after"]);
  expect(stored.map((s) => s.seq)).toEqual([...before.map((b) => b.seq), after.json.seq]);
  expect(stored[3]!.prev_seq).toBe(before[2].seq);
});

test("a stream deleted under a running notifier is re-created; the failed send was a 503, never a 202", async () => {
  await using f = await Fixture.start();
  const { jetstreamManager } = await import("@nats-io/jetstream");
  const jsm = await jetstreamManager(f.nc);
  const user = uniqueUser();
  expect((await f.post({ user_id: user, body: "one" })).status).toBe(202);
  await jsm.streams.delete("NOTIFICATIONS");
  const lost = await f.post({ user_id: user, body: "two" });
  expect(lost.status).toBe(503);
  expect(lost.headers.get("retry-after")).toBe("1");
  await waitFor("readyz 200", async () => (await readyz(f)) === 200, 10_000);
  const again = await f.post({ user_id: user, body: "three" });
  expect(again.status).toBe(202);
  const stored = await f.stored(userStoreSubject(user));
  expect(stored.map((s) => [s.body, s.prev_seq])).toEqual([["three", 0]]);
});
