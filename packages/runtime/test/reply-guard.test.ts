// ReplyGuard: the rule of replyAccepted at a responder, every refusal counted, the log rate-limited.
import { expect, test } from "bun:test";
import { waitFor } from "@rt/testkit";
import pino from "pino";
import { Metrics } from "../src/metrics.ts";
import { ReplyGuard } from "../src/reply-guard.ts";

/** A logger whose lines are kept, parsed. */
function captured(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { log, lines };
}
const refusedTotal = async (m: Metrics, responder: string) => (await m.registry.getSingleMetric("rt_reply_refused_total")!.get()).values.find((v) => v.labels.responder === responder)?.value;

test("an inbox of the responder's callers passes, so does no reply at all; anything else is refused and counted", async () => {
  const m = new Metrics();
  const { log, lines } = captured();
  const guard = new ReplyGuard(m, log, ["notifier.send", "gateway.api"]);
  expect(await refusedTotal(m, "notifier.send")).toBe(0); // there from the start, at 0
  expect(guard.allows("notifier.send", "notifier.send", "_INBOX.abc.def")).toBe(true);
  expect(guard.allows("notifier.send", "notifier.send", undefined)).toBe(true);
  expect(guard.allows("notifier.send", "notifier.send", "")).toBe(true);
  expect(guard.allows("notifier.send", "notifier.send", "$JS.API.STREAM.PURGE.NOTIFICATIONS")).toBe(false);
  expect(guard.allows("gateway.api", "gateway.api.info", "_INBOX.abc.def")).toBe(false); // only the notifier calls it
  expect(await refusedTotal(m, "notifier.send")).toBe(1);
  expect(await refusedTotal(m, "gateway.api")).toBe(1);
  expect(lines.map((l) => [l.level, l.responder, l.subject, l.reply])).toEqual([
    [40, "notifier.send", "notifier.send", "$JS.API.STREAM.PURGE.NOTIFICATIONS"],
    [40, "gateway.api", "gateway.api.info", "_INBOX.abc.def"],
  ]);
});

test("a flood is counted in full and logged once per responder per interval; the count held back follows at the interval's end; the logged reply is cut short", async () => {
  const m = new Metrics();
  const { log, lines } = captured();
  const guard = new ReplyGuard(m, log, ["api"], 200);
  guard.allows("api", "api.info", "z".repeat(10_000));
  for (let i = 0; i < 999; i++) guard.allows("api", "api.info", `chat.room.r${i}`);
  expect(await refusedTotal(m, "api")).toBe(1000);
  expect(String(lines[0]!.reply)).toBe("z".repeat(128));
  // However slow the machine, every refusal is either a line or in a "(more times)" count.
  const accounted = () => lines.reduce((n, l) => n + (typeof l.suppressed === "number" ? l.suppressed : 1), 0);
  await waitFor("every refusal accounted for", () => accounted() === 1000, 5000, 10);
  expect(lines.length).toBeLessThan(1000);
  expect(lines.at(-1)!.msg).toContain("(more times)");
});
