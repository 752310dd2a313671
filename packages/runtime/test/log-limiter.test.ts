import { expect, test } from "bun:test";
import { waitFor } from "@rt/testkit";
import { LogLimiter } from "../src/log-limiter.ts";
import type { Logger } from "../src/logger.ts";

/** A logger that records its lines. */
function recorder(): { log: Logger; lines: Array<{ fields: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const push = (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg });
  const log = { error: push, warn: push } as unknown as Logger;
  return { log, lines };
}

test("10,000 failures of one kind in a window: one line at once, then one line with the count of the rest", async () => {
  const { log, lines } = recorder();
  // The clock stands still while the 10,000 come (on a loaded machine making them can take longer
  // than the window); the count is written by the window's real timer.
  const t = new LogLimiter(200, () => 0);
  for (let i = 0; i < 10_000; i++) t.error(log, { err: new Error(`boom ${i}`) }, "message failed");
  expect(lines).toHaveLength(1);
  expect(lines[0]!.msg).toBe("message failed");
  expect(String(lines[0]!.fields.err)).toContain("boom 0");
  await waitFor("the window's count", () => lines.length === 2, 5000, 10);
  expect(lines[1]).toEqual({ fields: { suppressed: 9999, windowMs: 200 }, msg: "message failed (more times)" });
});

test("each kind has its own window; a quiet kind writes again at once", () => {
  let now = 0;
  const { log, lines } = recorder();
  const t = new LogLimiter(5000, () => now);
  t.error(log, {}, "open failed");
  t.error(log, {}, "message failed");
  t.error(log, {}, "open failed");
  expect(lines.map((l) => l.msg)).toEqual(["open failed", "message failed"]);
  now = 5000;
  t.error(log, { n: 2 }, "open failed");
  expect(lines.map((l) => l.msg)).toEqual(["open failed", "message failed", "open failed"]);
  expect(lines[2]!.fields).toEqual({ n: 2 });
});

test("a key groups lines whose messages are the same (one per responder or reason), at warn level", async () => {
  let now = 0;
  const { log, lines } = recorder();
  const t = new LogLimiter(5000, () => now);
  t.warn(log, { r: 1 }, "rejected", "frame");
  t.warn(log, { r: 2 }, "rejected", "rate");
  t.warn(log, { r: 3 }, "rejected", "frame");
  expect(lines.map((l) => l.fields.r)).toEqual([1, 2]);
  now = 5000;
  t.warn(log, { r: 4 }, "rejected", "frame");
  expect(lines.map((l) => l.fields.r)).toEqual([1, 2, 4]);
});
