import { Backoff } from "../backoff.ts";

/**
 * One asynchronous catch-up job of a cursor (reading a stream until it is live again), run at most
 * once at a time: a request while it runs makes it go round once more when it ends. A failure is
 * handed to `failed`, which says what to do: retry after a backoff with jitter, retry after a
 * fixed delay, or wait (undefined) for something else to request a run (a reconnect, the stream
 * coming back).
 */
export class SyncTask {
  private running = false;
  private again = false;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff = new Backoff(250, 5000);

  constructor(
    private readonly step: () => Promise<void>,
    private readonly closed: () => boolean,
    /** Told of a failed run: returns "backoff", a delay in ms, or undefined to wait for the next request. */
    private readonly failed: (err: unknown) => "backoff" | number | undefined,
  ) {}

  /** Runs the job now, or once more after the run in progress. */
  async run(): Promise<void> {
    if (this.closed()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    clearTimeout(this.retry);
    let failure: { err: unknown } | undefined;
    try {
      do {
        this.again = false;
        await this.step();
      } while (this.again && !this.closed());
      this.backoff.reset();
    } catch (err) {
      failure = { err };
    } finally {
      this.running = false;
    }
    if (!failure || this.closed()) return;
    if (this.again) return void this.run(); // asked again meanwhile (a reconnect): go at once
    const next = this.failed(failure.err);
    if (next === undefined) return;
    this.retry = setTimeout(() => void this.run(), next === "backoff" ? this.backoff.next() : next);
  }

  /** No more runs (the subscription or room is gone). */
  stop(): void {
    clearTimeout(this.retry);
  }
}
