import { readFileSync } from "node:fs";

/** Resident memory of process `pid` in bytes (VmRSS from /proc/<pid>/status; Linux only). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples a process's VmRSS every `everyMs` until stop(); `peak` and `first` are in bytes. */
export class RssSampler {
  readonly first: number;
  peak: number;
  private readonly timer: ReturnType<typeof setInterval>;
  constructor(private readonly pid: number, everyMs = 20) {
    this.first = rssBytes(pid);
    this.peak = this.first;
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  /** Takes one sample now and returns it. */
  sample(): number {
    let now: number;
    try {
      now = rssBytes(this.pid);
    } catch {
      return this.peak; // the process is gone
    }
    if (now > this.peak) this.peak = now;
    return now;
  }

  /** Stops sampling; returns the peak growth over the first sample, in bytes. */
  stop(): { first: number; peak: number; last: number; peakGrowth: number } {
    clearInterval(this.timer);
    const last = this.sample();
    return { first: this.first, peak: this.peak, last, peakGrowth: this.peak - this.first };
  }
}

/** One TCP socket's kernel queues as /proc/net/tcp shows them (IPv4 loopback). */
export interface TcpQueues {
  localPort: number;
  remotePort: number;
  /** Hex state: 01 ESTABLISHED, 06 TIME_WAIT, 08 CLOSE_WAIT, ... */
  state: string;
  /** Bytes not yet acknowledged by the peer (sent side). */
  txQueue: number;
  /** Bytes received and not yet read by the application. */
  rxQueue: number;
}

/** Both ends of every IPv4 connection touching `port` (loopback tests see both ends). */
export function tcpQueues(port: number): TcpQueues[] {
  const out: TcpQueues[] = [];
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const localPort = parseInt(f[1]!.split(":")[1]!, 16);
    const remotePort = parseInt(f[2]!.split(":")[1]!, 16);
    if (localPort !== port && remotePort !== port) continue;
    const [tx, rx] = f[4]!.split(":").map((h) => parseInt(h, 16));
    out.push({ localPort, remotePort, state: f[3]!, txQueue: tx ?? 0, rxQueue: rx ?? 0 });
  }
  return out;
}
