import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { metricsSample } from "@rt/protocol";
import { Sampler, parseLoadavg, parseMeminfo, parseStat } from "../src/sampler.ts";

/** Burns CPU for `ms` so the second reading has some busy time to report. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) Math.sqrt(Math.random());
}

describe("Sampler on this machine", () => {
  test("values are in range; cpu_percent appears from the second sample", async () => {
    const sampler = new Sampler({ hostId: "host.with*odd>chars" });
    const first = await sampler.sample();
    expect(metricsSample.validate(first)).toEqual({ ok: true, value: first });
    expect(first.host).toBe("host.with*odd>chars");
    expect(first.cpu_load).toBeGreaterThanOrEqual(0);
    expect(first.memory_usage).toBeGreaterThan(0);
    expect(first.memory_usage).toBeLessThanOrEqual(100);
    expect(first.cpu_percent).toBeUndefined();
    expect(Math.abs(Date.parse(first.timestamp) - Date.now())).toBeLessThan(5000);

    spin(60);
    const second = await sampler.sample();
    expect(metricsSample.check(second)).toBe(true);
    expect(second.cpu_percent).toBeNumber();
    expect(second.cpu_percent!).toBeGreaterThan(0);
    expect(second.cpu_percent!).toBeLessThanOrEqual(100);
  });

  test("without /proc it falls back to node:os and still reports cpu_percent", async () => {
    const sampler = new Sampler({ hostId: "h", procDir: "/nonexistent-proc" });
    const first = await sampler.sample();
    expect(metricsSample.check(first)).toBe(true);
    expect(first.memory_usage).toBeGreaterThan(0);
    expect(first.cpu_percent).toBeUndefined();
    spin(60);
    const second = await sampler.sample();
    expect(metricsSample.check(second)).toBe(true);
    expect(second.cpu_percent).toBeNumber();
  });
});

describe("Sampler reading a procfs snapshot", () => {
  test("computes load, memory and CPU busy time from the files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-proc-"));
    try {
      writeFileSync(join(dir, "loadavg"), "1.50 0.80 0.40 2/300 1234\n");
      writeFileSync(join(dir, "meminfo"), "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n");
      // user nice system idle iowait irq softirq steal guest guest_nice
      writeFileSync(join(dir, "stat"), "cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3 4\n");
      const at = new Date("2030-01-02T03:04:05.678Z");
      const sampler = new Sampler({ hostId: "snap", procDir: dir, now: () => at });
      expect(await sampler.sample()).toEqual({ timestamp: "2030-01-02T03:04:05.678Z", cpu_load: 1.5, memory_usage: 75, host: "snap" });
      // +300 busy (user 200, system 100), +100 idle: 75% busy. guest is not counted twice.
      writeFileSync(join(dir, "stat"), "cpu  300 0 200 800 100 0 0 0 250 0\n");
      expect((await sampler.sample()).cpu_percent).toBe(75);
      // No time passed: no cpu_percent rather than a division by zero.
      expect((await sampler.sample()).cpu_percent).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("parsers reject what they cannot read", () => {
    expect(parseLoadavg("garbage")).toBeUndefined();
    expect(parseMeminfo("MemFree: 10 kB\n")).toBeUndefined();
    expect(parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 50 kB\n")).toEqual({ total: 1024000, available: 204800 });
    expect(parseStat("intr 1 2 3\n")).toBeUndefined();
    expect(parseStat("cpu  a b c d\n")).toBeUndefined();
  });
});
