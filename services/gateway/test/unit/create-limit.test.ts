import { describe, expect, test } from "bun:test";
import { CreateLimit } from "../../src/sessions/create-limit.ts";

function limit(perMin: number, burst: number) {
  let now = 0;
  return { l: new CreateLimit(perMin, burst, () => now), tick: (ms: number) => (now += ms) };
}
const takes = (l: CreateLimit, creator: Parameters<CreateLimit["take"]>[0], n: number) => Array.from({ length: n }, () => l.take(creator));

describe("CreateLimit", () => {
  test("a burst, then one creation per 60000/perMin ms, per user", () => {
    const { l, tick } = limit(60, 3);
    expect(takes(l, { user: "a" }, 4)).toEqual([true, true, true, false]);
    expect(l.take({ user: "b" })).toBe(true); // another user's own allowance
    tick(999);
    expect(l.take({ user: "a" })).toBe(false);
    tick(1);
    expect(takes(l, { user: "a" }, 2)).toEqual([true, false]);
    tick(60_000);
    expect(takes(l, { user: "a" }, 4)).toEqual([true, true, true, false]); // refills up to the burst, no further
  });

  test("anonymous creators share their address's allowance; a user named like an address does not", () => {
    const { l } = limit(60, 2);
    expect(takes(l, { address: "10.0.0.1" }, 3)).toEqual([true, true, false]);
    expect(l.take({ user: "10.0.0.1" })).toBe(true);
    expect(l.take({ address: "10.0.0.2" })).toBe(true);
  });

  test("0 a minute: no limit, and nothing kept", () => {
    const { l } = limit(0, 1);
    expect(takes(l, { user: "a" }, 1000).every(Boolean)).toBe(true);
    expect(l.size).toBe(0);
  });

  test("buckets that filled up again are pruned as new keys come: memory follows recent creators", () => {
    const { l, tick } = limit(60, 1);
    for (let i = 0; i < 1024; i++) l.take({ user: `old-${i}` });
    expect(l.size).toBe(1024);
    tick(1000); // every old bucket is full again
    l.take({ user: "new" });
    expect(l.size).toBe(1);
    expect(l.take({ user: "old-1" })).toBe(true); // a pruned key starts full, as it would have been
  });
});
