import { expect, test } from "bun:test";
import { PartsCollector, split, type Part } from "../../src/cluster/parts.ts";
import { MemberBook } from "../../src/presence/member-book.ts";

test("a member book: events change it once; a snapshot tells what it missed; a dropped gateway's members are left", () => {
  const book = new MemberBook();
  expect(book.apply("g1", "join", { client: "a", user: "u" })).toBe(true);
  expect(book.apply("g1", "join", { client: "a", user: "u" })).toBe(false);
  expect(book.apply("g1", "leave", { client: "x", user: "u" })).toBe(false);
  expect(book.apply("g2", "join", { client: "b", user: "v" })).toBe(true);
  expect(book.size).toBe(2);
  expect(book.replace("g1", [["c", "w"]])).toEqual({ joined: [{ client: "c", user: "w" }], left: [{ client: "a", user: "u" }] });
  expect(book.replace("g1", [["c", "w"]])).toEqual({ joined: [], left: [] });
  expect(book.drop("g2")).toEqual([{ client: "b", user: "v" }]);
  expect(book.drop("g2")).toEqual([]);
  expect(book.gateways()).toEqual(["g1"]);
  expect(book.replace("g1", [])).toEqual({ joined: [], left: [{ client: "c", user: "w" }] });
  expect(book.gateways()).toEqual([]);
});

test("a member book: a snapshot taken before a join it arrives after keeps that join (the events since the question go on top), so the member's leave is still news", () => {
  const book = new MemberBook();
  expect(book.apply("g1", "join", { client: "b", user: "bob" })).toBe(true); // the event, processed before the older snapshot
  expect(book.replace("g1", [], [{ kind: "join", m: { client: "b", user: "bob" } }])).toEqual({ joined: [], left: [] });
  expect(book.apply("g1", "leave", { client: "b", user: "bob" })).toBe(true);
  // Events older than the snapshot change nothing applied again: a join already in it, a leave already out of it.
  expect(book.replace("g1", [["c", "carl"]], [{ kind: "join", m: { client: "c", user: "carl" } }, { kind: "leave", m: { client: "x", user: "x" } }])).toEqual({ joined: [{ client: "c", user: "carl" }], left: [] });
  // A member that joined and left while the question was out: not there, and nothing to tell.
  expect(book.replace("g1", [["c", "carl"], ["d", "dan"]], [{ kind: "join", m: { client: "d", user: "dan" } }, { kind: "leave", m: { client: "d", user: "dan" } }])).toEqual({ joined: [], left: [] });
});

test("split: parts of at most maxBytes (one oversized item alone), always at least one part", () => {
  expect(split([], () => 1, 10)).toEqual([[]]);
  expect(split([1, 2, 3, 4, 5], () => 4, 10)).toEqual([[1, 2], [3, 4], [5]]);
  expect(split([1, 2], () => 20, 10)).toEqual([[1], [2]]);
  const members = Array.from({ length: 10_000 }, (_, i): [string, string] => [crypto.randomUUID(), `user-${i}`]);
  const parts = split(members, (m) => m[0].length + 2 * m[1].length + 8);
  expect(parts.flat()).toEqual(members);
  for (const p of parts) expect(JSON.stringify({ gateway: "g", part: 0, parts: 9, members: p }).length).toBeLessThan(128 * 1024 + 200);
});

test("a parts collector: done once every expected gateway answered every part; repeats, contradictions and extra gateways ignored", () => {
  type A = Part & { n: number };
  const c = new PartsCollector<A>(2);
  expect(c.take({ gateway: "g1", part: 0, parts: 2, n: 1 })).toBe(false);
  expect(c.take({ gateway: "g1", part: 0, parts: 2, n: 99 })).toBe(false); // repeat
  expect(c.take({ gateway: "g2", part: 0, parts: 1, n: 3 })).toBe(false);
  expect(c.take({ gateway: "g3", part: 0, parts: 1, n: 9 })).toBe(false); // a third gateway: not expected
  expect(c.take({ gateway: "g1", part: 1, parts: 3, n: 9 })).toBe(false); // contradicts its part count
  expect(c.take({ gateway: "g1", part: 5, parts: 2, n: 9 })).toBe(false); // past its part count
  expect(c.take({ gateway: "g1", part: 1, parts: 2, n: 2 })).toBe(true);
  expect([...c.answers()].map(([g, parts]) => [g, parts.map((p) => p.n)])).toEqual([["g2", [3]], ["g1", [1, 2]]]);
  const reversed = new PartsCollector<A>(1);
  reversed.take({ gateway: "g", part: 1, parts: 2, n: 2 });
  expect(reversed.take({ gateway: "g", part: 0, parts: 2, n: 1 })).toBe(true);
  expect(reversed.answers().get("g")!.map((p) => p.n)).toEqual([1, 2]);
  expect(new PartsCollector(0).done).toBe(true);
});
