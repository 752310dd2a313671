import { expect, test } from "bun:test";
import { AnswerCollector, memberBytes, split } from "../../src/presence/answers.ts";
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

test("split: parts of at most maxBytes (one oversized item alone), always at least one part", () => {
  expect(split([], () => 1, 10)).toEqual([[]]);
  expect(split([1, 2, 3, 4, 5], () => 4, 10)).toEqual([[1, 2], [3, 4], [5]]);
  expect(split([1, 2], () => 20, 10)).toEqual([[1], [2]]);
  const members = Array.from({ length: 10_000 }, (_, i): [string, string] => [crypto.randomUUID(), `user-${i}`]);
  const parts = split(members, memberBytes);
  expect(parts.flat()).toEqual(members);
  for (const p of parts) expect(JSON.stringify({ gateway: "g", part: 0, parts: 9, members: p }).length).toBeLessThan(128 * 1024 + 200);
});

test("an answer collector: done once every expected gateway answered every part; repeats and extra gateways ignored", () => {
  const c = new AnswerCollector(2);
  expect(c.take({ gateway: "g1", part: 0, parts: 2, members: [["a", "u"]] })).toBe(false);
  expect(c.take({ gateway: "g1", part: 0, parts: 2, members: [["a", "u"]] })).toBe(false); // repeat
  expect(c.take({ gateway: "g2", part: 0, parts: 1, members: [] })).toBe(false);
  expect(c.take({ gateway: "g3", part: 0, parts: 1, members: [["z", "z"]] })).toBe(false); // a third gateway: not expected
  expect(c.take({ gateway: "g1", part: 1, parts: 3, members: [["q", "q"]] })).toBe(false); // contradicts its part count
  expect(c.take({ gateway: "g1", part: 1, parts: 2, members: [["b", "v"]] })).toBe(true);
  expect([...c.answers()].map(([g, a]) => [g, a.members])).toEqual([["g2", []], ["g1", [["a", "u"], ["b", "v"]]]]);
  const stats = new AnswerCollector(1);
  stats.take({ gateway: "g", part: 0, parts: 2, clients: 3, users: ["u"] });
  expect(stats.take({ gateway: "g", part: 1, parts: 2, clients: 0, users: ["v"] })).toBe(true);
  expect(stats.answers().get("g")).toEqual({ members: [], clients: 3, users: ["u", "v"] });
  expect(new AnswerCollector(0).done).toBe(true);
});
