import { afterEach, beforeEach, expect, jest, test } from "bun:test";
import { startTicker } from "../src/ticker.ts";

// Fake timers: `setTimeout`, `Date.now` and `performance.now` move only when the test advances
// them, so every expectation below is exact and no load can shift a tick.
beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

/** A promise resolved by a fake timer `ms` from now (what `Bun.sleep` is to real time). */
const fakeSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Advances the fake clock by `ms`, 1 ms at a time, letting the ticks' promise chains run in between. */
async function advance(ms: number): Promise<void> {
  for (let t = 0; t < ms; t++) {
    for (let i = 0; i < 10; i++) await Promise.resolve();
    jest.advanceTimersByTime(1);
  }
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

test("ticks at once, then on slots counted from the start", async () => {
  const at: number[] = [];
  const t0 = performance.now();
  // Each tick takes 7 ms (of fake time): a ticker that waited `intervalMs` after each tick would drift to n * 57.
  const ticker = startTicker(50, async () => {
    at.push(performance.now() - t0);
    await fakeSleep(7);
  }, () => {});
  await advance(530);
  await ticker.stop();
  expect(at.length).toBeGreaterThanOrEqual(10);
  expect(at.length).toBeLessThanOrEqual(11);
  expect(at[0]!).toBeLessThan(20);
  // No drift: tick n lands within a few ms of n * 50, not n * (50 + lateness).
  at.forEach((t, n) => expect(Math.abs(t - n * 50)).toBeLessThan(25));
});

test("a slow tick never overlaps the next; missed slots are skipped", async () => {
  let running = 0;
  let maxRunning = 0;
  const starts: number[] = [];
  const t0 = performance.now();
  const ticker = startTicker(40, async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    starts.push(performance.now() - t0);
    await fakeSleep(100);
    running--;
  }, () => {});
  await advance(450);
  const stopped = ticker.stop();
  await advance(100); // the tick running at 450 ends at 460
  await stopped;
  expect(maxRunning).toBe(1);
  expect(running).toBe(0);
  // Each tick takes 100 ms, so ticks start on the 40 ms slots that follow: 0, 120, 240, 360.
  expect(starts.length).toBeGreaterThanOrEqual(3);
  for (let i = 1; i < starts.length; i++) {
    expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(100);
    expect(starts[i]! - starts[i - 1]!).toBeLessThan(170);
  }
});

test("an error is reported and the schedule carries on; stop waits for a running tick", async () => {
  const errors: unknown[] = [];
  let n = 0;
  let finished = false;
  const ticker = startTicker(20, async () => {
    n++;
    if (n <= 2) throw new Error(`boom ${n}`);
    await fakeSleep(50);
    finished = true;
  }, (err) => errors.push(err));
  await advance(50); // ticks at 0 and 20 fail; the one at 40 is running (until 90)
  let stopDone = false;
  const stopped = ticker.stop().then(() => void (stopDone = true));
  await advance(20);
  expect(stopDone).toBe(false); // stop waits for the running tick
  await advance(30);
  await stopped;
  expect(errors.map(String)).toEqual(["Error: boom 1", "Error: boom 2"]);
  expect(n).toBe(3);
  expect(finished).toBe(true);
  // Stopped: nothing is scheduled any more, however long one waits.
  expect(jest.getTimerCount()).toBe(0);
  await advance(60);
  expect(n).toBe(3);
});
