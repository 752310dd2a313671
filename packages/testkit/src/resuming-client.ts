/** A `/notifications` client that records every frame's seq and can reconnect with `?since=<last seq>&epoch=<its epoch>`. */
export class ResumingClient {
  /** Every seq received, in arrival order, across reconnects. */
  readonly seqs: number[] = [];
  /** The epoch of the last frame received. */
  epoch: string | undefined;
  /** Times the socket closed (by us or by the server). */
  closes = 0;
  private ws: WebSocket | undefined;
  private closedWaiter: PromiseWithResolvers<void> | undefined;

  constructor(private readonly url: (since: number | undefined, epoch: string | undefined) => string) {}

  /** The last seq received (undefined before the first). */
  get lastSeq(): number | undefined {
    return this.seqs.at(-1);
  }

  /** Opens (or reopens) the socket; resumes after the last seq when `resume` is set. */
  connect(resume = true): Promise<void> {
    const ws = new WebSocket(this.url(resume ? (this.lastSeq ?? 0) : undefined, resume ? this.epoch : undefined));
    this.ws = ws;
    this.closedWaiter = Promise.withResolvers<void>();
    const closed = this.closedWaiter;
    ws.addEventListener("message", (e) => {
      const f = JSON.parse(String(e.data)) as { seq: number; epoch?: string };
      this.seqs.push(f.seq);
      this.epoch = f.epoch;
    });
    ws.addEventListener("close", () => {
      this.closes++;
      closed.resolve();
    });
    return new Promise((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error("could not open")), { once: true });
    });
  }

  /** Closes from the client side and waits until the close is done. */
  async drop(): Promise<void> {
    this.ws?.close();
    await this.closedWaiter?.promise;
  }

  /** Resolves when the current socket has closed (e.g. its gateway died). */
  closed(): Promise<void> {
    return this.closedWaiter?.promise ?? Promise.resolve();
  }

  /** True while the socket is open. */
  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.ws?.close();
  }
}

/** Checks a received seq list against the acknowledged ones: missing, duplicated, out of order. */
export function auditSeqs(received: number[], acked: number[]): { missing: number[]; duplicates: number; outOfOrder: number } {
  const seen = new Set<number>();
  let duplicates = 0;
  let outOfOrder = 0;
  for (let i = 0; i < received.length; i++) {
    const s = received[i]!;
    if (seen.has(s)) duplicates++;
    seen.add(s);
    if (i > 0 && s <= received[i - 1]!) outOfOrder++;
  }
  return { missing: acked.filter((s) => !seen.has(s)), duplicates, outOfOrder };
}
