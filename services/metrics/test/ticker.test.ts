import { expect, test } from "bun:test";
import { startTicker } from "../src/ticker.ts";

test("ticks at once, then on slots counted from the start", async () => {
  const at: number[] = [];
  const t0 = performance.now();
  const ticker = startTicker(50, () => void at.push(performance.now() - t0), () => {});
  await Bun.sleep(530);
  await ticker.stop();
  expect(at.length).toBeGreaterThanOrEqual(10);
  expect(at.length).toBeLessThanOrEqual(11);
  expect(at[0]!).toBeLessThan(20);
  // No drift: tick n lands within a few ms of n * 50, not n * (50 + timer lateness).
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
    await Bun.sleep(100);
    running--;
  }, () => {});
  await Bun.sleep(450);
  await ticker.stop();
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
    await Bun.sleep(50);
    finished = true;
  }, (err) => errors.push(err));
  await Bun.sleep(70);
  await ticker.stop();
  expect(errors.map(String)).toEqual(["Error: boom 1", "Error: boom 2"]);
  expect(n).toBe(3);
  expect(finished).toBe(true);
  await Bun.sleep(60);
  expect(n).toBe(3);
});
