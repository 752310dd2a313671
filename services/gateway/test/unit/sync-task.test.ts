import { afterEach, expect, jest, test } from "bun:test";
import { SyncTask } from "../../src/channels/sync-task.ts";

afterEach(() => {
  jest.useRealTimers();
});

/** Lets pending promise callbacks run (a few turns of the microtask queue). */
async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

test("one run at a time; a request while running makes exactly one more round", async () => {
  let runs = 0;
  let release: () => void = () => undefined;
  const started = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const task = new SyncTask(async () => {
    runs++;
    const gate = Promise.withResolvers<void>();
    release = gate.resolve;
    started[runs - 1]?.resolve();
    await gate.promise;
  }, () => false, () => undefined);
  const first = task.run();
  await started[0]!.promise;
  void task.run();
  void task.run();
  release();
  await started[1]!.promise; // the one more round asked for while the first ran
  release();
  await first;
  expect(runs).toBe(2);
});

test("a failure is retried as `failed` says; a closed job does not run", async () => {
  // Fake timers: the retry delay is exact, and "no retry scheduled" is a fact to read, not a wait.
  jest.useFakeTimers();
  let runs = 0;
  let closed = false;
  const task = new SyncTask(async () => {
    runs++;
    if (runs < 3) throw new Error("not yet");
  }, () => closed, () => 5);
  await task.run();
  expect(runs).toBe(1);
  expect(jest.getTimerCount()).toBe(1); // the retry, 5 ms away
  jest.advanceTimersByTime(4);
  await settleMicrotasks();
  expect(runs).toBe(1);
  jest.advanceTimersByTime(1);
  await settleMicrotasks();
  expect(runs).toBe(2);
  jest.advanceTimersByTime(5);
  await settleMicrotasks();
  expect(runs).toBe(3);
  expect(jest.getTimerCount()).toBe(0); // it succeeded: nothing more scheduled
  closed = true;
  await task.run();
  expect(runs).toBe(3);
  let waits = 0;
  const waiting = new SyncTask(async () => {
    waits++;
    throw new Error("missing");
  }, () => false, () => undefined);
  await waiting.run();
  expect(waits).toBe(1); // undefined: no retry until asked
  expect(jest.getTimerCount()).toBe(0);
  await waiting.run();
  expect(waits).toBe(2);
});
