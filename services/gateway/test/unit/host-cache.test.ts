import { expect, test } from "bun:test";
import { HostCache } from "../../src/channels/host-cache.ts";

test("a host that missed three of its periods is gone: not sent, evicted", () => {
  const c = new HostCache();
  c.put("a", "A1", 1000, 0);
  c.put("b", "B1", 10_000, 0);
  expect([...c.live(2999)]).toEqual(["A1", "B1"]);
  expect([...c.live(3000)]).toEqual(["B1"]);
  expect(c.size).toBe(1);
  c.put("a", "A2", 1000, 3500);
  expect([...c.live(4000)]).toEqual(["B1", "A2"]);
});

test("when full, a new host evicts the gone ones, then the least recently heard: never refused", () => {
  const c = new HostCache(3);
  c.put("a", "A", 1000, 0);
  c.put("b", "B", 100_000, 0);
  c.put("c", "C", 100_000, 0);
  c.put("d", "D", 100_000, 5000); // a is gone: it goes
  expect([...c.live(5000)]).toEqual(["B", "C", "D"]);
  c.put("b", "B2", 100_000, 6000); // b heard again: c is now the least recently heard
  c.put("e", "E", 100_000, 7000);
  expect([...c.live(7000)]).toEqual(["D", "B2", "E"]);
});

test("a sample without interval_ms lives three default periods; lifetimes are bounded", () => {
  const c = new HostCache();
  c.put("x", "X", undefined, 0);
  expect([...c.live(29_999)]).toEqual(["X"]);
  expect([...c.live(30_000)]).toEqual([]);
  c.put("fast", "F", 1, 0);
  expect([...c.live(2999)]).toEqual(["F"]);
});
