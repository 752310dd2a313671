import { expect, test } from "bun:test";
import { OriginFilter } from "../../src/broker/origin-filter.ts";

test("a repeat (at or below the highest seq seen from that origin) is refused; other origins are independent", () => {
  const f = new OriginFilter();
  expect([1, 2, 3].map((s) => f.accept("a", s))).toEqual([true, true, true]);
  expect([2, 3].map((s) => f.accept("a", s))).toEqual([false, false]);
  expect(f.accept("a", 7)).toBe(true); // gaps are fine: other subjects
  expect(f.accept("b", 1)).toBe(true);
  expect(f.accept("a", 5)).toBe(false);
});

test("bounded: the least recently heard origin is forgotten first", () => {
  const f = new OriginFilter(Date.now, 2);
  f.accept("a", 5);
  f.accept("b", 5);
  f.accept("a", 6); // a heard again
  f.accept("c", 1); // evicts b
  expect(f.size).toBe(2);
  expect(f.accept("a", 6)).toBe(false);
  expect(f.accept("b", 1)).toBe(true);
});

test("an origin silent for ten minutes starts afresh", () => {
  let now = 0;
  const f = new OriginFilter(() => now);
  f.accept("a", 50);
  now += 11 * 60_000;
  expect(f.accept("a", 1)).toBe(true);
  expect(f.accept("a", 2)).toBe(true);
});
