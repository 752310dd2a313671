import type { Subscription } from "centrifuge";
import { Conditions } from "./conditions.ts";
import type { TestSocket } from "./ws-client.ts";

/** Where a room's publications are sent from: a `/chat/{room}` socket, or a protocol client's subscription (centrifuge SDK). */
export type PulseSender = { kind: "chat"; socket: TestSocket } | { kind: "sdk"; sub: Subscription };

/** Where they are watched: a `/chat/{room}` socket, or an SDK subscription of `chat:<room>`. */
export type PulseReceiver = { name: string; kind: "chat"; socket: TestSocket } | { name: string; kind: "sdk"; sub: Subscription };

/** One receiver's view: every pulse id in arrival order, and when each first arrived (ms, performance.now()). */
interface Seen {
  ids: string[];
  at: Map<string, number>;
}

/** What a run of pulses shows, per receiver and overall. */
export interface PulseReport {
  sent: number;
  /** Publishes the client was refused (an SDK publish that failed: an error reached the client). */
  refused: Array<{ id: string; error: string }>;
  /** Per receiver: the ids it lacks, those it got more than once, and whether each sender's order held. */
  receivers: Array<{ name: string; missing: string[]; duplicates: string[]; outOfOrder: string[] }>;
  /** The longest time any publication took from being sent to arriving at a receiver (ms). */
  longestMs: number;
  /** The publication that took longest, and where. */
  longest: { id: string; receiver: string } | undefined;
}

/**
 * Sends numbered publications into one room at a steady pace from several senders (`/chat/`
 * sockets and SDK clients), and records when each one reaches each receiver. A sender's ids are
 * `<prefix><n>`, so "once and in order" is checked per sender, and "how long" per publication:
 * from its send to its arrival (a publication sent while a node is lost waits for the room to
 * resume; its time is the outage as that publication saw it).
 */
export class RoomPulse {
  private readonly sentAt = new Map<string, number>();
  private readonly order = new Map<string, string[]>();
  private readonly seen = new Map<string, Seen>();
  private readonly refusals: Array<{ id: string; error: string }> = [];
  private readonly conditions = new Conditions();
  private readonly replies: Array<Promise<void>> = [];
  private n = 0;

  constructor(private readonly room: string, private readonly senders: Array<{ prefix: string; via: PulseSender }>, receivers: PulseReceiver[]) {
    for (const s of senders) this.order.set(s.prefix, []);
    for (const r of receivers) {
      const seen: Seen = { ids: [], at: new Map() };
      this.seen.set(r.name, seen);
      const record = (id: string | undefined) => {
        if (id === undefined || !this.sentAt.has(id)) return;
        seen.ids.push(id);
        if (!seen.at.has(id)) seen.at.set(id, performance.now());
        this.conditions.wake();
      };
      if (r.kind === "chat") {
        const prefix = `Room ${room}: `;
        r.socket.ws.addEventListener("message", (e) => {
          if (typeof e.data === "string" && e.data.startsWith(prefix)) record(e.data.slice(prefix.length));
        });
      } else {
        r.sub.on("publication", (ctx) => record((ctx.data as { text?: string } | undefined)?.text));
      }
    }
  }

  /** Sends the next publication from every sender (an SDK publish is not awaited: its reply is checked in report()). */
  pulse(): void {
    this.n++;
    for (const { prefix, via } of this.senders) {
      const id = `${prefix}${this.n}`;
      this.sentAt.set(id, performance.now());
      this.order.get(prefix)!.push(id);
      if (via.kind === "chat") via.socket.send(id);
      else this.replies.push(via.sub.publish({ text: id }).then(() => undefined, (err: unknown) => void this.refusals.push({ id, error: JSON.stringify(err) })));
    }
  }

  /** Publications sent so far (over all senders). */
  get sent(): number {
    return this.sentAt.size;
  }

  /** Waits until `receiver` has every publication sent so far. */
  until(receiver: string, what: string, timeoutMs: number): Promise<void> {
    const seen = this.seen.get(receiver)!;
    const want = [...this.sentAt.keys()];
    return this.conditions.until(() => want.every((id) => seen.at.has(id)), `${receiver}: ${what}`, timeoutMs, () => ` (missing ${want.filter((id) => !seen.at.has(id)).slice(0, 5).join(", ")}…)`);
  }

  /** Waits until every receiver has every publication sent so far. */
  async all(what: string, timeoutMs: number): Promise<void> {
    await Promise.all([...this.seen.keys()].map((r) => this.until(r, what, timeoutMs)));
  }

  /** True when `receiver` has publication `id`. */
  has(receiver: string, id: string): boolean {
    return this.seen.get(receiver)!.at.has(id);
  }

  /** When `receiver` first had `id` (performance.now()), or undefined. */
  arrivedAt(receiver: string, id: string): number | undefined {
    return this.seen.get(receiver)!.at.get(id);
  }

  /** When `id` was sent (performance.now()). */
  sentTime(id: string): number | undefined {
    return this.sentAt.get(id);
  }

  /** The ids sent by the sender with `prefix`, in order. */
  ids(prefix: string): string[] {
    return this.order.get(prefix) ?? [];
  }

  /** Once every SDK publish has its reply: what arrived where, once and in order, and the longest wait. */
  async report(): Promise<PulseReport> {
    await Promise.all(this.replies);
    const receivers: PulseReport["receivers"] = [];
    let longestMs = 0;
    let longest: PulseReport["longest"];
    for (const [name, seen] of this.seen) {
      const counts = new Map<string, number>();
      for (const id of seen.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      const duplicates = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
      const missing = [...this.sentAt.keys()].filter((id) => !counts.has(id));
      const outOfOrder: string[] = [];
      for (const ids of this.order.values()) {
        const mine = new Set(ids);
        const got = seen.ids.filter((id) => mine.has(id));
        let last = -1;
        for (const id of got) {
          const i = ids.indexOf(id);
          if (i < last) outOfOrder.push(id);
          last = Math.max(last, i);
        }
      }
      receivers.push({ name, missing, duplicates, outOfOrder });
      for (const [id, at] of seen.at) {
        const ms = at - this.sentAt.get(id)!;
        if (ms > longestMs) {
          longestMs = ms;
          longest = { id, receiver: name };
        }
      }
    }
    return { sent: this.sentAt.size, refused: this.refusals, receivers, longestMs, longest };
  }
}
