import { NOTIFICATIONS_STREAM, ROOMS_STREAM } from "@rt/protocol";
import type { TestSystem } from "@rt/testkit";
import type { EventLog } from "./log.ts";
import type { Progress } from "./progress.ts";
import { Running } from "./running.ts";
import { resources, type PlannedFault } from "./schedule.ts";

/** A client whose reading can be stalled. */
export interface StallTarget {
  /** Stops reading. */
  stall(): void;
  /** Reads again. */
  unstall(): Promise<void>;
}

/** How long a restarted NATS node gets to bring every stream back to three current replicas. */
const HEALTHY_MS = 60_000;

/**
 * Carries out a planned schedule on a running system: each fault at its time, undone after its
 * `downMs`. Faults that share a target (or the cluster's one-node-down turn) wait for each
 * other, so a slow restart delays the next fault on it rather than overlapping it; the delay is
 * reported. A NATS node's turn ends only once every stream has three current replicas again.
 */
export class FaultInjector {
  private readonly turns = new Map<string, Promise<void>>();
  private readonly running: Promise<void>[] = [];
  /** Faults begun and finished so far. */
  begun = 0;
  finished = 0;
  /** When the schedule started, on the log's clock. */
  private origin = 0;
  /** Until abort(): waits end early after it, and nothing new starts. */
  private readonly live = new Running();
  /** Harness problems while injecting (a service that would not come back). */
  readonly problems: string[] = [];

  constructor(
    private readonly sys: TestSystem,
    private readonly stallable: ReadonlyMap<string, StallTarget>,
    private readonly log: EventLog,
    private readonly progress: Progress,
  ) {}

  /** Starts each fault of `faults` at its time (ms after now); resolves once the last has been started. */
  async schedule(faults: readonly PlannedFault[], stopped: () => boolean): Promise<void> {
    this.origin = this.log.now();
    for (const [i, f] of faults.entries()) {
      const wait = this.origin + f.at - this.log.now();
      if (wait > 0) await this.live.sleep(wait);
      if (stopped() || !this.live.on) return;
      this.running.push(this.take(resources(f.kind, f.target), () => this.inject(f, `${i + 1}/${faults.length}`)));
    }
  }

  /** Resolves when every fault begun is over (targets back). */
  async done(): Promise<void> {
    await Promise.all(this.running);
  }

  /** Ends every fault now (targets back at once, no waiting for stream health), and starts no more. */
  abort(): void {
    this.live.stop();
  }

  /** Runs `fn` once every resource's previous holder is done, holding them until it is. */
  private take(keys: string[], fn: () => Promise<void>): Promise<void> {
    const before = keys.map((k) => this.turns.get(k) ?? Promise.resolve());
    const mine = Promise.all(before).then(fn).catch((err: unknown) => {
      this.problems.push(String(err));
      this.progress.log(`harness problem: ${String(err)}`);
    });
    for (const k of keys) this.turns.set(k, mine);
    return mine;
  }

  private async inject(f: PlannedFault, which: string): Promise<void> {
    if (!this.live.on) return;
    const late = this.log.now() - this.origin - f.at;
    this.begun++;
    const what = describe(f);
    this.progress.log(`fault ${which}: ${what}${late > 500 ? ` (${(late / 1000).toFixed(1)} s late: waited for the target)` : ""}`);
    const end = this.log.fault(f.kind, f.kind === "nats-kill" || f.kind === "stall" ? f.target : `gateway ${f.target}`);
    try {
      switch (f.kind) {
        case "gateway-kill":
        case "gateway-term":
          await this.restartGateway(Number(f.target), f.kind === "gateway-kill" ? "SIGKILL" : "SIGTERM", f.downMs);
          break;
        case "nats-kill": {
          const cluster = this.sys.cluster!;
          await cluster.kill(f.target);
          await this.live.sleep(f.downMs);
          await cluster.restart(f.target);
          if (this.live.on) await Promise.all([ROOMS_STREAM, NOTIFICATIONS_STREAM].map((s) => cluster.waitStreamHealthy(s, 3, HEALTHY_MS)));
          break;
        }
        case "link-cut": {
          const link = this.sys.proxy(this.sys.gw(Number(f.target)));
          link.cut();
          await this.live.sleep(f.downMs);
          link.restore();
          break;
        }
        case "stall": {
          const t = this.stallable.get(f.target);
          if (!t) throw new Error(`no client ${f.target} to stall`);
          t.stall();
          await this.live.sleep(f.downMs);
          await t.unstall();
          break;
        }
      }
    } finally {
      end();
      this.finished++;
    }
    this.progress.log(`fault ${which} over: ${what}`);
  }

  /** Stops gateway `i` and starts it again after `downMs`; a start that fails is tried again (a gateway must come back). */
  private async restartGateway(i: number, signal: NodeJS.Signals, downMs: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const old = this.sys.gw(i);
      try {
        await this.sys.restartGateway(i, signal, downMs);
        return;
      } catch (err) {
        if (attempt >= 5 || !this.live.on) throw new Error(`gateway ${i} did not come back after ${attempt} starts: ${String(err).slice(0, 500)}`);
        this.progress.log(`gateway ${i} did not start (attempt ${attempt}), trying again: ${String(err).slice(0, 200)}`);
      } finally {
        this.log.output(`gateway ${i} (pid ${old.proc.pid})`, old.logs);
      }
    }
  }
}

/** The fault in words, for the progress lines. */
export function describe(f: PlannedFault): string {
  const s = `${(f.downMs / 1000).toFixed(1)} s`;
  switch (f.kind) {
    case "gateway-kill":
      return `kill -9 gateway ${f.target}, restart after ${s}`;
    case "gateway-term":
      return `SIGTERM gateway ${f.target}, restart after ${s}`;
    case "nats-kill":
      return `kill -9 NATS node ${f.target}, restart after ${s}`;
    case "link-cut":
      return `cut gateway ${f.target}'s NATS link for ${s}`;
    case "stall":
      return `stall client ${f.target}'s reading for ${s}`;
  }
}
