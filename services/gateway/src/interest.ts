import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";

/**
 * Reference-counted NATS subscriptions: a subject is subscribed while at least one local
 * socket needs it and unsubscribed when the last one leaves, so a gateway only receives
 * the rooms and users it serves.
 */
export class Interest {
  private readonly subs = new Map<string, { count: number; sub: Subscription }>();
  constructor(private readonly nc: NatsConnection, private readonly onError: (subject: string, err: unknown) => void) {}

  /** Adds one holder of `subject`, subscribing with `onMsg` if it is the first. */
  acquire(subject: string, onMsg: (msg: Msg) => void): void {
    const entry = this.subs.get(subject);
    if (entry) {
      entry.count++;
      return;
    }
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        // A handler that throws must never stop the connection's dispatch for everyone else.
        try {
          onMsg(msg);
        } catch (e) {
          this.onError(subject, e);
        }
      },
    });
    this.subs.set(subject, { count: 1, sub });
  }

  /** Removes one holder of `subject`, unsubscribing when none is left. */
  release(subject: string): void {
    const entry = this.subs.get(subject);
    if (!entry) return;
    if (--entry.count > 0) return;
    this.subs.delete(subject);
    entry.sub.unsubscribe();
  }

  /** How many subjects are subscribed now. */
  get size(): number {
    return this.subs.size;
  }

  /** True while `subject` is subscribed. */
  has(subject: string): boolean {
    return this.subs.has(subject);
  }
}
