// A presence member on NATS: the tuple forms, with a connection info (the connect proxy's) and without.
import { expect, test } from "bun:test";
import { presenceAnswer, presenceEvent } from "@rt/protocol";
import { clientInfoOf, memberOf, tupleOf, type Member } from "../../src/presence/member-book.ts";

test("a member goes to its tuple and back: none, channel info, connection info, both", () => {
  const cases: Array<[Member, unknown[]]> = [
    [{ client: "c", user: "u" }, ["c", "u"]],
    [{ client: "c", user: "u", info: { role: "a" } }, ["c", "u", { role: "a" }]],
    [{ client: "c", user: "u", connInfo: { name: "Ann" } }, ["c", "u", null, { name: "Ann" }]],
    [{ client: "c", user: "u", info: [1], connInfo: "x" }, ["c", "u", [1], "x"]],
  ];
  for (const [m, t] of cases) {
    expect([...tupleOf(m)]).toEqual(t);
    expect(memberOf(tupleOf(m))).toEqual(m);
    expect(presenceAnswer.check({ gateway: "g", part: 0, parts: 1, members: [t] })).toBe(true);
    expect(presenceEvent.check({ gateway: "g", changes: [["join", ...t]] })).toBe(true);
  }
  expect(presenceEvent.check({ gateway: "g", changes: [["join", "c", "u", 1, 2, 3]] })).toBe(false);
});

test("as the protocol's ClientInfo: conn_info and chan_info only when it has them", () => {
  expect(clientInfoOf({ client: "c", user: "u" })).toEqual({ user: "u", client: "c" });
  expect(clientInfoOf({ client: "c", user: "u", info: 1, connInfo: 2 })).toEqual({ user: "u", client: "c", conn_info: 2, chan_info: 1 });
});
