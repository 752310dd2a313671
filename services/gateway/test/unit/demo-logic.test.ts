// The demo page's pure parts: ordered merge of history and live, the unread count, the chart's paths, who wrote a message.
import { describe, expect, test } from "bun:test";
import { linePath, toPoint, trim, type Point } from "../../demo/chart.ts";
import { authorOf } from "../../demo/names.ts";
import { OrderedLog } from "../../demo/ordered.ts";
import { markAll, parseMark, unreadCount } from "../../demo/unread.ts";

describe("authorOf", () => {
  test("a client's user; a /chat/ socket (no user) is the guest; a publication without client info is the server's (the server API)", () => {
    expect(authorOf({ user: "alice", client: "c1" })).toBe("alice");
    expect(authorOf({ user: "", client: "c2" })).toBe("guest (/chat/)");
    expect(authorOf(undefined)).toBe("server");
  });
});

describe("OrderedLog", () => {
  test("history read after live ones merges in offset order, each once", () => {
    const log = new OrderedLog<{ offset: number; v: string }>(10);
    expect(log.add("e1", [{ offset: 5, v: "live5" }, { offset: 6, v: "live6" }])).toBe(true);
    expect(log.add("e1", [{ offset: 6, v: "hist6" }, { offset: 4, v: "hist4" }, { offset: 3, v: "hist3" }])).toBe(true);
    expect(log.entries().map((e) => e.v)).toEqual(["hist3", "hist4", "live5", "live6"]);
    expect(log.add("e1", [{ offset: 5, v: "again" }])).toBe(false);
  });

  test("a new epoch drops what was there; the oldest go past the bound", () => {
    const log = new OrderedLog<{ offset: number }>(3);
    log.add("e1", [1, 2, 3, 4, 5].map((offset) => ({ offset })));
    expect(log.entries().map((e) => e.offset)).toEqual([3, 4, 5]);
    expect(log.add("e2", [])).toBe(true);
    expect(log.size).toBe(0);
    expect(log.currentEpoch).toBe("e2");
    expect(log.add("e2", [])).toBe(false);
  });
});

describe("unread", () => {
  test("counts after the mark in the same epoch, everything without one or in another epoch", () => {
    expect(unreadCount("e", [1, 2, 3], undefined)).toBe(3);
    expect(unreadCount("e", [1, 2, 3], { epoch: "e", offset: 2 })).toBe(1);
    expect(unreadCount("e", [1, 2, 3], { epoch: "old", offset: 2 })).toBe(3);
    expect(unreadCount(undefined, [1], undefined)).toBe(0);
  });

  test("mark all read never moves back, and a stored mark is checked", () => {
    expect(markAll("e", [3, 9, 4], undefined)).toEqual({ epoch: "e", offset: 9 });
    expect(markAll("e", [3], { epoch: "e", offset: 7 })).toEqual({ epoch: "e", offset: 7 });
    expect(markAll("e", [3], { epoch: "old", offset: 7 })).toEqual({ epoch: "e", offset: 3 });
    expect(parseMark(JSON.stringify({ epoch: "e", offset: 4 }))).toEqual({ epoch: "e", offset: 4 });
    for (const bad of [null, "nope", "{}", '{"epoch":"e","offset":-1}', '{"epoch":1,"offset":1}', '{"epoch":"e","offset":1.5}']) expect(parseMark(bad)).toBeUndefined();
  });
});

describe("chart", () => {
  const box = { now: 10_000, windowMs: 10_000, width: 100, height: 50 };
  test("a series becomes a path over the window: time left to right, 100% at the top, clamped", () => {
    const pts: Point[] = [{ t: 0, cpu: 0, mem: 100 }, { t: 5_000, cpu: 50, mem: 150 }, { t: 10_000, cpu: 100, mem: -5 }];
    expect(linePath(pts, (p) => p.cpu, box)).toBe("M0.0 50.0 L50.0 25.0 L100.0 0.0");
    expect(linePath(pts, (p) => p.mem, box)).toBe("M0.0 0.0 L50.0 0.0 L100.0 50.0");
  });

  test("points outside the window or without a value are skipped; none gives an empty path", () => {
    const pts: Point[] = [{ t: -1, cpu: 10, mem: 10 }, { t: 2_000, cpu: Number.NaN, mem: 10 }, { t: 4_000, cpu: 20, mem: 10 }, { t: 20_000, cpu: 5, mem: 5 }];
    expect(linePath(pts, (p) => p.cpu, box)).toBe("M40.0 40.0");
    expect(linePath([], (p) => p.cpu, box)).toBe("");
  });

  test("trim keeps the window and a bounded count", () => {
    const pts = Array.from({ length: 10 }, (_, i) => ({ t: i * 1000, cpu: 1, mem: 1 }));
    expect(trim(pts, 9000, 3000).map((p) => p.t)).toEqual([6000, 7000, 8000, 9000]);
    expect(trim(pts, 9000, 100_000, 2).map((p) => p.t)).toEqual([8000, 9000]);
  });

  test("a monitor sample becomes a point; anything else does not", () => {
    const s = { host: "h1", timestamp: "2026-01-01T00:00:00.000Z", cpu_load: 0.5, memory_usage: 40, cpu_percent: 12, interval_ms: 1000 };
    expect(toPoint(s)).toEqual({ host: "h1", point: { t: Date.parse(s.timestamp), cpu: 12, mem: 40 } });
    expect(toPoint({ ...s, cpu_percent: undefined })!.point.cpu).toBeNaN(); // a host's first sample: no CPU percent yet
    for (const bad of [null, 5, "x", { ...s, host: 3 }, { ...s, timestamp: "never" }, { ...s, memory_usage: "40" }]) expect(toPoint(bad)).toBeUndefined();
  });
});
