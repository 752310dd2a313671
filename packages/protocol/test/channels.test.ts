import { expect, test } from "bun:test";
import { parseChannel } from "../src/channels/names.ts";

test.each([
  ["chat:lobby", { kind: "room", channel: "chat:lobby", room: "lobby" }],
  ["chat:A-z_09", { kind: "room", channel: "chat:A-z_09", room: "A-z_09" }],
  ["#alice", { kind: "inbox", channel: "#alice", userId: "alice" }],
  ["#auth0|123", { kind: "inbox", channel: "#auth0|123", userId: "auth0|123" }],
  ["#用户", { kind: "inbox", channel: "#用户", userId: "用户" }],
  ["system:monitor", { kind: "monitor", channel: "system:monitor" }],
  ["system:other", { kind: "unknown", channel: "system:other" }],
  ["news:1", { kind: "unknown", channel: "news:1" }],
  ["lobby", { kind: "unknown", channel: "lobby" }],
  [":x", { kind: "unknown", channel: ":x" }],
  ["chat:", { kind: "invalid" }],
  ["chat:a.b", { kind: "invalid" }],
  ["chat:a:b", { kind: "invalid" }],
  [`chat:${"x".repeat(65)}`, { kind: "invalid" }],
  ["#", { kind: "invalid" }],
  ["#a\u0000b", { kind: "invalid" }],
  ["", { kind: "invalid" }],
  ["y".repeat(301), { kind: "invalid" }],
])("%p", (name, expected) => {
  expect(parseChannel(name)).toEqual(expected as ReturnType<typeof parseChannel>);
});
