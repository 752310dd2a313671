import type { EventLog, Track } from "../lib/log.ts";
import type { Running } from "../lib/running.ts";

/**
 * A `/notifications` socket that resumes as the docs tell clients to: after every close it opens
 * again (on the next gateway when its own refuses) with `?since=<last seq>&epoch=<its epoch>`,
 * which delivers everything after that seq with no gap and no duplicate; its first connection
 * asks `since=0` (the user's whole inbox, new at the start of the run). One track for the run.
 */
export class InboxSocket {
  private gateway: number;
  private last = 0;
  private epoch: string | undefined;
  private ws: WebSocket | undefined;
  private readonly track: Track;
  private connections = 0;

  constructor(readonly name: string, readonly user: string, private readonly token: string, private readonly gateways: readonly string[], home: number, private readonly log: EventLog) {
    this.gateway = home;
    this.track = log.track(name, `#${user}`, true);
  }

  /** True while a socket is open. */
  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Keeps a socket open until `running` ends. */
  async run(running: Running): Promise<void> {
    while (running.on) {
      const socket = await this.connect();
      if (socket === undefined) {
        this.gateway = (this.gateway + 1) % this.gateways.length;
        await running.sleep(200);
        continue;
      }
      await Promise.race([socket.closed, running.sleep(1e9)]);
      if (running.on) await running.sleep(100);
    }
  }

  stop(): void {
    this.ws?.close();
  }

  /** Opens a socket; resolves once it is open (with a promise of its close), or with undefined when it did not open. */
  private connect(): Promise<{ closed: Promise<void> } | undefined> {
    const query = `token=${encodeURIComponent(this.token)}&since=${this.last}${this.epoch ? `&epoch=${encodeURIComponent(this.epoch)}` : ""}`;
    const ws = new WebSocket(`${this.gateways[this.gateway]}/notifications?${query}`);
    ws.addEventListener("message", (e) => {
      let frame: { seq?: unknown; epoch?: unknown; body?: unknown };
      try {
        frame = JSON.parse(String(e.data)) as typeof frame;
      } catch {
        frame = {};
      }
      const seq = typeof frame.seq === "number" ? frame.seq : undefined;
      if (seq !== undefined) this.last = seq;
      if (typeof frame.epoch === "string") this.epoch = frame.epoch;
      this.track.entries.push({ t: this.log.now(), type: "pub", id: typeof frame.body === "string" ? frame.body : `?${String(e.data)}`, offset: seq });
    });
    return new Promise((resolve) => {
      const closed = Promise.withResolvers<void>();
      ws.addEventListener("open", () => {
        this.ws = ws;
        // A resume delivers all that was missed (or, in a new epoch, the whole new inbox): a recovery that cannot fail.
        this.track.entries.push({ t: this.log.now(), type: "subscribed", recovered: this.connections > 0, wasRecovering: this.connections > 0 });
        this.connections++;
        resolve({ closed: closed.promise });
      }, { once: true });
      ws.addEventListener("close", (e) => {
        if (this.ws === ws) this.track.entries.push({ t: this.log.now(), type: "down", reason: `closed ${e.code}` });
        closed.resolve();
        resolve(undefined);
      }, { once: true });
    });
  }
}
