import { join } from "node:path";
import type { Subprocess } from "bun";
import type { Command, OpenGroup, OpenReply, PumpReply, RateReply, ReadMode, Reply, WorkerStats } from "../client/messages.ts";
import { fdHardLimit } from "./proc.ts";

/** Most sockets one client process is given: 19,000 here, where the hard fd limit is 20,000 per process. */
export const SOCKETS_PER_WORKER = Math.max(100, Math.min(19_000, fdHardLimit() - 1000));

const WORKER = join(import.meta.dir, "..", "client", "worker.ts");

/** One load-generator process, driven over IPC. */
export class ClientWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ready: Promise<void>;
  private proc!: Subprocess;
  private exited = false;

  constructor(readonly n: number) {
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.proc = Bun.spawn([process.execPath, WORKER], {
      stdio: ["ignore", "inherit", "inherit"],
      serialization: "json",
      ipc: (msg: Reply) => {
        if (msg.id === 0) return markReady();
        const w = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        if (!w) return;
        if (msg.ok) w.resolve(msg.value);
        else w.reject(new Error(`client worker ${this.n}: ${msg.error}`));
      },
    });
    void this.proc.exited.then((code) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`client worker ${this.n} exited with ${code}`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.proc.pid;
  }

  async request<T>(cmd: Command): Promise<T> {
    await this.ready;
    if (this.exited) throw new Error(`client worker ${this.n} has exited`);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ ...cmd, id });
    });
  }

  open(groups: OpenGroup[], mode: ReadMode = "count", concurrency = 128): Promise<OpenReply> {
    return this.request({ op: "open", groups, mode, concurrency });
  }

  reset(): Promise<boolean> {
    return this.request({ op: "reset" });
  }

  stats(latencies = false): Promise<WorkerStats> {
    return this.request({ op: "stats", latencies });
  }

  pump(args: Omit<Extract<Command, { op: "pump" }>, "op">): Promise<PumpReply> {
    return this.request({ op: "pump", ...args });
  }

  rate(args: Omit<Extract<Command, { op: "rate" }>, "op">): Promise<RateReply> {
    return this.request({ op: "rate", ...args });
  }

  /** Closes every socket; resolves with how many were still open after the grace period. */
  closeAll(): Promise<number> {
    return this.request({ op: "closeAll" });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    try {
      await Promise.race([this.request({ op: "exit" }), Bun.sleep(1000)]);
    } catch {
      // already gone
    }
    if (!this.exited) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

/** Totals over several workers' stats. */
export function sumStats(all: WorkerStats[]): WorkerStats {
  const t: WorkerStats = { open: 0, frames: 0, wsFrames: 0, bytes: 0, firstAt: 0, lastAt: 0, unexpectedCloses: 0, closeCodes: {}, decodeErrors: 0, duplicates: 0, latencies: [], ids: [], at: [] };
  for (const s of all) {
    t.open += s.open;
    t.frames += s.frames;
    t.wsFrames += s.wsFrames;
    t.bytes += s.bytes;
    if (s.firstAt > 0 && (t.firstAt === 0 || s.firstAt < t.firstAt)) t.firstAt = s.firstAt;
    t.lastAt = Math.max(t.lastAt, s.lastAt);
    t.unexpectedCloses += s.unexpectedCloses;
    for (const [k, v] of Object.entries(s.closeCodes)) t.closeCodes[k] = (t.closeCodes[k] ?? 0) + v;
    t.decodeErrors += s.decodeErrors;
    t.duplicates += s.duplicates;
    if (s.latencies) for (const l of s.latencies) t.latencies!.push(l);
    if (s.ids) for (const x of s.ids) t.ids!.push(x);
    if (s.at) for (const x of s.at) t.at!.push(x);
  }
  return t;
}

/** The client processes of a run, started as they are needed. */
export class WorkerPool implements AsyncDisposable {
  private readonly workers: ClientWorker[] = [];

  /** The first `n` workers, starting the missing ones. */
  take(n: number): ClientWorker[] {
    while (this.workers.length < n) this.workers.push(new ClientWorker(this.workers.length));
    return this.workers.slice(0, n);
  }

  /** Summed stats of the first `n` workers. */
  async stats(n: number, latencies = false): Promise<WorkerStats> {
    return sumStats(await Promise.all(this.take(n).map((w) => w.stats(latencies))));
  }

  async reset(n: number): Promise<void> {
    await Promise.all(this.take(n).map((w) => w.reset()));
  }

  async closeAll(n: number): Promise<void> {
    await Promise.all(this.take(n).map((w) => w.closeAll()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    this.workers.length = 0;
  }
}

/** How many workers `sockets` need. */
export function workersFor(sockets: number, atLeast = 1): number {
  return Math.max(atLeast, Math.ceil(sockets / SOCKETS_PER_WORKER));
}
