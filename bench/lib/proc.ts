import { readFileSync } from "node:fs";

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const HZ = 100;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name is in parentheses and may contain spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After ')': state is field 3, utime field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / HZ;
}

/** Resident memory in bytes, from VmRSS in /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Summed CPU seconds of several processes. */
export function cpuOf(pids: number[]): number {
  return pids.reduce((s, p) => s + cpuSeconds(p), 0);
}

/** Summed RSS of several processes. */
export function rssOf(pids: number[]): number {
  return pids.reduce((s, p) => s + rssBytes(p), 0);
}

/** CPU use between two readings as a percentage of one core. */
export class CpuMeter {
  private readonly cpu0: number;
  private readonly t0 = performance.now();
  constructor(private readonly pids: number[]) {
    this.cpu0 = cpuOf(pids);
  }

  /** CPU seconds since the start. */
  seconds(): number {
    return cpuOf(this.pids) - this.cpu0;
  }

  /** Percent of one core since the start (or over `wallMs` when given). */
  percent(wallMs = performance.now() - this.t0): number {
    return wallMs > 0 ? (this.seconds() * 100_000) / wallMs : 0;
  }
}

/** The 1, 5 and 15 minute load averages. */
export function loadAvg(): number[] {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number);
}

/** The hard limit on open files (Bun and Node raise their soft limit to it at start). */
export function fdHardLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === undefined || hard === "unlimited" ? Infinity : Number(hard);
}
