import { expect, test } from "bun:test";
import { MAX_REPLY_SUBJECT_LENGTH, REPLY_PREFIXES, replyAccepted, type Responder } from "../src/reply-subjects.ts";
import { REPLY_PREFIX } from "../src/subjects.ts";

const ALL = Object.keys(REPLY_PREFIXES) as Responder[];
/** Which responders accept `reply`, for the table below. */
const acceptedBy = (reply: string) => ALL.filter((r) => replyAccepted(r, reply));

test.each([
  // Every client library's default inbox, and a backend's own under it (nats.js `inboxPrefix: "_INBOX.billing"`).
  ["_INBOX.KjOTTZNdoB0whdSbqTtKWo.zv1cfpkK", ["notifier.send", "api"]],
  ["_INBOX.billing.KjOTTZNdoB0whdSbqTtKRt.Id5BBany", ["notifier.send", "api"]],
  ["_INBOX.a", ["notifier.send", "api"]],
  ["_INBOX.a-b_C.9", ["notifier.send", "api"]],
  // The services' own prefixes: each for its callers only.
  [`${REPLY_PREFIX.gatewayApi}r4nd0m.1`, ["gateway.api"]],
  [`${REPLY_PREFIX.gather}r4nd0m.1`, ["gateway.control", "presence.query"]],
  [`${REPLY_PREFIX.proxy}r4nd0m.1`, []],
  [`${REPLY_PREFIX.emulation}r4nd0m.1`, ["gateway.emulation"]],
  [`${REPLY_PREFIX.emulation}*`, []],
  // The rest of a service's inbox (its JetStream replies and acks) is nobody's to answer into.
  ["_INBOX_notifier.KjOTTZNdoB0whdSbqTtKWo.zv1cfpkK", []],
  ["_INBOX_gateway.KjOTTZNdoB0whdSbqTtKWo.ack.1", []],
  ["_INBOX_metrics.x.1", []],
  // Not an inbox at all.
  ["$JS.API.STREAM.PURGE.ROOMS", []],
  ["$JS.API.STREAM.DELETE.NOTIFICATIONS", []],
  ["chat.room.lobby", []],
  ["notify.user.YWxpY2U", []],
  ["metrics.host.evil", []],
  ["_INBOXx.a", []],
  ["_inbox.a", []],
  ["x._INBOX.a", []],
  // Malformed under a right prefix: no token, empty tokens, wildcards, other characters.
  ["_INBOX", []],
  ["_INBOX.", []],
  ["_INBOX..a", []],
  ["_INBOX.a.", []],
  ["_INBOX.a..b", []],
  ["_INBOX.*", []],
  ["_INBOX.>", []],
  ["_INBOX.a.*", []],
  ["_INBOX.a.>", []],
  ["_INBOX.a b", []],
  ["_INBOX.a\tb", []],
  ["_INBOX.a\n", []],
  ["_INBOX.a\r\nPUB chat.room.lobby 1", []],
  ["_INBOX.用户", []],
  ["_INBOX.a$b", []],
  [`${REPLY_PREFIX.gather}`, []],
  [`${REPLY_PREFIX.gather}*`, []],
  [`${REPLY_PREFIX.gatewayApi}>`, []],
  ["", []],
] as Array<[string, Responder[]]>)("%p is answered by %p", (reply, responders) => {
  expect(acceptedBy(reply)).toEqual(responders);
});

test("the length is bounded", () => {
  const at = `_INBOX.${"a".repeat(MAX_REPLY_SUBJECT_LENGTH - "_INBOX.".length)}`;
  expect(at.length).toBe(MAX_REPLY_SUBJECT_LENGTH);
  expect(replyAccepted("api", at)).toBe(true);
  expect(replyAccepted("api", `${at}a`)).toBe(false);
  expect(replyAccepted("api", `_INBOX.${"a.".repeat(10_000)}a`)).toBe(false);
});

test("every prefix is a run of whole tokens ending with a dot, and every responder has at least one", () => {
  for (const prefixes of Object.values(REPLY_PREFIXES)) {
    expect(prefixes.length).toBeGreaterThan(0);
    for (const p of prefixes) expect(p).toMatch(/^([A-Za-z0-9_-]+\.)+$/);
  }
});
