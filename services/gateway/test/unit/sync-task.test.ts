import { expect, test } from "bun:test";
import { SyncTask } from "../../src/channels/sync-task.ts";

test("one run at a time; a request while running makes exactly one more round", async () => {
  let runs = 0;
  let release: () => void = () => undefined;
  const task = new SyncTask(async () => {
    runs++;
    await new Promise<void>((r) => (release = r));
  }, () => false, () => undefined);
  const first = task.run();
  void task.run();
  void task.run();
  release();
  await Bun.sleep(0);
  release();
  await first;
  expect(runs).toBe(2);
});

test("a failure is retried as `failed` says; a closed job does not run", async () => {
  let runs = 0;
  let closed = false;
  const task = new SyncTask(async () => {
    runs++;
    if (runs < 3) throw new Error("not yet");
  }, () => closed, () => 5);
  await task.run();
  await Bun.sleep(50);
  expect(runs).toBe(3);
  closed = true;
  await task.run();
  expect(runs).toBe(3);
  let waits = 0;
  const waiting = new SyncTask(async () => {
    waits++;
    throw new Error("missing");
  }, () => false, () => undefined);
  await waiting.run();
  await Bun.sleep(30);
  expect(waits).toBe(1); // undefined: no retry until asked
  await waiting.run();
  expect(waits).toBe(2);
});
