import { connect, type NatsConnection } from "@nats-io/transport-node";
import { waitFor, NATS_ADMIN } from "@rt/testkit";

/** One message as the test received it. */
export interface Received {
  subject: string;
  data: unknown;
  at: number;
}

/** A test subscriber that records every message on `subject`; reconnects by itself through a server restart. */
export class Subscriber implements AsyncDisposable {
  readonly received: Received[] = [];
  private constructor(readonly nc: NatsConnection) {}

  static async start(url: string, subject: string): Promise<Subscriber> {
    const nc = await connect({ ...NATS_ADMIN, servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 50, reconnectJitter: 0 });
    const s = new Subscriber(nc);
    const sub = nc.subscribe(subject);
    void (async () => {
      for await (const m of sub) s.received.push({ subject: m.subject, data: m.json(), at: performance.now() });
    })();
    await nc.flush();
    return s;
  }

  /** Waits until `n` messages have arrived in all; returns them. */
  async waitForCount(n: number, timeoutMs = 5000): Promise<Received[]> {
    await waitFor(`${n} messages (have ${this.received.length})`, () => this.received.length >= n, timeoutMs, 10);
    return this.received;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}
