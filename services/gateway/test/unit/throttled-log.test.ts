import { expect, test } from "bun:test";
import type { Logger } from "@rt/runtime";
import { waitFor } from "@rt/testkit";
import { ThrottledLog } from "../../src/throttled-log.ts";

/** A logger that records its error lines. */
function recorder(): { log: Logger; lines: Array<{ fields: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const log = { error: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as unknown as Logger;
  return { log, lines };
}

test("10,000 failures of one kind in a window: one line at once, then one line with the count of the rest", async () => {
  const { log, lines } = recorder();
  // The clock stands still while the 10,000 come (on a loaded machine making them can take longer
  // than the window); the count is written by the window's real timer.
  const t = new ThrottledLog(log, 200, () => 0);
  for (let i = 0; i < 10_000; i++) t.error({ err: new Error(`boom ${i}`) }, "message failed");
  expect(lines).toHaveLength(1);
  expect(lines[0]!.msg).toBe("message failed");
  expect(String(lines[0]!.fields.err)).toContain("boom 0");
  await waitFor("the window's count", () => lines.length === 2, 5000, 10);
  expect(lines[1]).toEqual({ fields: { suppressed: 9999, windowMs: 200 }, msg: "message failed (more times)" });
});

test("each kind has its own window; a quiet kind writes again at once", () => {
  let now = 0;
  const { log, lines } = recorder();
  const t = new ThrottledLog(log, 5000, () => now);
  t.error({}, "open failed");
  t.error({}, "message failed");
  t.error({}, "open failed");
  expect(lines.map((l) => l.msg)).toEqual(["open failed", "message failed"]);
  now = 5000;
  t.error({ n: 2 }, "open failed");
  expect(lines.map((l) => l.msg)).toEqual(["open failed", "message failed", "open failed"]);
  expect(lines[2]!.fields).toEqual({ n: 2 });
});
