import { readFile } from "node:fs/promises";
import { join } from "node:path";
import os from "node:os";
import type { MetricsSample } from "@rt/protocol";
import { secondsSince } from "@rt/runtime";

/** Cumulative CPU time since boot, in any unit (jiffies from /proc/stat, ms from os.cpus()). */
export interface CpuTimes {
  busy: number;
  total: number;
}

export interface SamplerOptions {
  /** The host id every sample carries. */
  hostId: string;
  /** Where procfs is mounted; when a file is missing there, the `node:os` equivalent is used. */
  procDir?: string;
  /** Clock for the sample's timestamp. */
  now?: () => Date;
  /** The sampling period, sent with every sample so gateways can tell a host that stopped. */
  intervalMs?: number;
  /** Told how long each sample took to read, in seconds. */
  onSampled?: (seconds: number) => void;
}

/**
 * Takes samples of this machine: the 1-minute load average, memory in use and CPU busy time.
 * `cpu_percent` covers the time since the previous sample, so the first sample has none.
 */
export class Sampler {
  private readonly hostId: string;
  private readonly procDir: string;
  private readonly now: () => Date;
  private readonly intervalMs: number | undefined;
  private readonly onSampled: ((seconds: number) => void) | undefined;
  private previousCpu: CpuTimes | undefined;

  constructor(opts: SamplerOptions) {
    this.hostId = opts.hostId;
    this.procDir = opts.procDir ?? "/proc";
    this.now = opts.now ?? (() => new Date());
    this.intervalMs = opts.intervalMs;
    this.onSampled = opts.onSampled;
  }

  /** Reads the current values; never throws for a missing /proc. */
  async sample(): Promise<MetricsSample> {
    const started = performance.now();
    const [load, memory, cpu] = await Promise.all([this.readLoad(), this.readMemoryUsage(), this.readCpu()]);
    const sample: MetricsSample = {
      timestamp: this.now().toISOString(),
      cpu_load: load,
      memory_usage: memory,
      host: this.hostId,
    };
    const percent = cpuPercent(this.previousCpu, cpu);
    this.previousCpu = cpu;
    if (percent !== undefined) sample.cpu_percent = percent;
    if (this.intervalMs !== undefined) sample.interval_ms = this.intervalMs;
    this.onSampled?.(secondsSince(started));
    return sample;
  }

  private async readLoad(): Promise<number> {
    const text = await this.readProc("loadavg");
    const fromProc = text === undefined ? undefined : parseLoadavg(text);
    return clamp(fromProc ?? os.loadavg()[0] ?? 0, 0, Number.MAX_VALUE);
  }

  private async readMemoryUsage(): Promise<number> {
    const text = await this.readProc("meminfo");
    const mem = (text === undefined ? undefined : parseMeminfo(text)) ?? { total: os.totalmem(), available: os.freemem() };
    if (!(mem.total > 0)) return 0;
    return round2(clamp(((mem.total - mem.available) / mem.total) * 100, 0, 100));
  }

  private async readCpu(): Promise<CpuTimes | undefined> {
    const text = await this.readProc("stat");
    return (text === undefined ? undefined : parseStat(text)) ?? osCpuTimes();
  }

  private async readProc(file: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.procDir, file), "utf8");
    } catch {
      return undefined;
    }
  }
}

/** The 1-minute load average from /proc/loadavg ("0.13 0.16 0.09 1/143 6989"). */
export function parseLoadavg(text: string): number | undefined {
  const n = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Total and available bytes from /proc/meminfo; MemAvailable is estimated on kernels without it. */
export function parseMeminfo(text: string): { total: number; available: number } | undefined {
  const kb = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) kb.set(m[1], Number(m[2]) * 1024);
  }
  const total = kb.get("MemTotal");
  if (total === undefined || total <= 0) return undefined;
  const available = kb.get("MemAvailable") ?? (kb.get("MemFree") ?? 0) + (kb.get("Buffers") ?? 0) + (kb.get("Cached") ?? 0);
  return { total, available: Math.min(available, total) };
}

/** Busy and total jiffies from the aggregate "cpu" line of /proc/stat (idle and iowait count as not busy). */
export function parseStat(text: string): CpuTimes | undefined {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (line === undefined) return undefined;
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already in user/nice.
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** CPU times summed over every core from node:os, when /proc/stat is not there. */
function osCpuTimes(): CpuTimes | undefined {
  const cpus = os.cpus();
  if (cpus.length === 0) return undefined;
  let busy = 0;
  let total = 0;
  for (const { times } of cpus) {
    const t = times.user + times.nice + times.sys + times.idle + times.irq;
    total += t;
    busy += t - times.idle;
  }
  return { busy, total };
}

/** Percent of CPU time busy between two readings; undefined without both or when no time passed. */
export function cpuPercent(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  const total = after.total - before.total;
  if (!(total > 0)) return undefined;
  return round2(clamp(((after.busy - before.busy) / total) * 100, 0, 100));
}

function clamp(n: number, min: number, max: number): number {
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : min;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
