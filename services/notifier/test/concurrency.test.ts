import { expect, test } from "bun:test";
import { userStoreSubject } from "@rt/protocol";
import { ServiceProcess } from "@rt/testkit";
import { Fixture, post, uniqueUser } from "./helpers.ts";

test("two notifier processes writing for the same user keep the prev_seq chain unbroken", async () => {
  await using f = await Fixture.start();
  await using second = await ServiceProcess.start("notifier", { NATS_URL: f.nats.url });
  const user = uniqueUser();
  const perProcess = 40;
  const sends = [f.svc, second].flatMap((svc) =>
    Array.from({ length: perProcess }, (_, i) => post(svc.http, { user_id: user, body: `${svc.port}-${i}` })),
  );
  const answers = await Promise.all(sends);
  expect(answers.map((a) => a.status)).toEqual(answers.map(() => 202));
  const stored = await f.stored(userStoreSubject(user));
  expect(stored).toHaveLength(2 * perProcess);
  expect(stored[0]!.prev_seq).toBe(0);
  for (let i = 1; i < stored.length; i++) expect(stored[i]!.prev_seq).toBe(stored[i - 1]!.seq);
  expect(new Set(answers.map((a) => a.json.seq))).toEqual(new Set(stored.map((s) => s.seq)));
  expect(f.svc.logs + second.logs).not.toContain("gave up");
});
