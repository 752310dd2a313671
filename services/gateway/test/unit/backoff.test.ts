import { expect, test } from "bun:test";
import { Backoff } from "../../src/backoff.ts";

test("doubles up to the cap, jittered within [0.5, 1.5), and resets", () => {
  const mid = new Backoff(100, 1000, () => 0.5);
  expect([1, 2, 3, 4, 5, 6].map(() => mid.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
  mid.reset();
  expect(mid.next()).toBe(100);
  expect(new Backoff(100, 1000, () => 0).next()).toBe(50);
  expect(new Backoff(100, 1000, () => 0.999).next()).toBe(150);
});
