import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { epochOf, streamAdvisorySubjects } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { Backoff } from "../backoff.ts";

/** How often the stream is looked at while all is well (catches what advisories miss). */
const CHECK_EVERY_MS = 10_000;
/** A cause of trouble is logged at most this often. */
const LOG_EVERY_MS = 30_000;

/**
 * Which life of one JetStream stream is current (its epoch), and whether JetStream answers.
 * Read after every (re)connect, on the stream's created/deleted advisories, when asked (a live
 * event names an epoch we do not know), and every 10 s; while the stream is missing or
 * JetStream does not answer, retried with backoff and jitter, the cause logged once per 30 s.
 */
export class StreamEpoch {
  private value: string | undefined;
  private answered = false;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff = new Backoff(250, 10_000);
  private readonly listeners: Array<(epoch: string | undefined) => void> = [];
  private lastLog = { cause: "", at: 0 };
  private stopped = false;

  /** `creator`: who makes the stream, said when it is missing ("the notifier creates it: is it running?"). */
  constructor(private readonly stream: string, private readonly broker: Broker, private readonly log: Logger, private readonly creator: string) {}

  /**
   * Starts watching: advisories, the periodic check, and a look whenever `lookWhen` says so: after
   * every (re)connect by default; a stream this gateway creates itself is looked at once it is in
   * place (its creator's signal), so its absence just before is not reported as trouble.
   */
  start(lookWhen: (look: () => void) => void = (look) => this.broker.onUp(look)): void {
    for (const subject of streamAdvisorySubjects(this.stream)) this.broker.acquire(subject, () => this.refresh());
    lookWhen(() => void this.refresh());
    this.broker.onDown(() => (this.answered = false));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The current epoch; undefined while the stream is missing or not read yet. */
  get current(): string | undefined {
    return this.value;
  }

  /** True while JetStream answered the last look (the stream found or not). */
  get jetstreamUp(): boolean {
    return this.answered && this.broker.connected();
  }

  /** `fn(epoch)` runs whenever the epoch changes (undefined: the stream went missing). */
  onChange(fn: (epoch: string | undefined) => void): void {
    this.listeners.push(fn);
  }

  /** Reads the stream's epoch now (calls while one is in flight share it, plus one more after). */
  refresh(): Promise<void> {
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.look().finally(() => {
      this.inFlight = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.inFlight;
  }

  private async look(): Promise<void> {
    clearTimeout(this.timer);
    const streams = this.broker.streams();
    if (!streams || !this.broker.connected() || this.stopped) return; // onUp looks again
    let next: string | undefined;
    let healthy = false;
    try {
      const info = await streams.info(this.stream);
      next = epochOf(info.created);
      this.answered = true;
      healthy = true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        this.answered = true;
        next = undefined;
        this.trouble(`stream not found (${this.creator})`);
      } else {
        this.answered = false;
        this.trouble(String(err));
        this.schedule(this.backoff.next());
        return; // JetStream did not answer: the epoch is unknown, not changed
      }
    }
    if (next !== this.value) {
      const before = this.value;
      this.value = next;
      this.log.info({ stream: this.stream, epoch: next, before }, next === undefined ? "stream missing" : "stream epoch");
      for (const fn of this.listeners) fn(next);
    }
    if (healthy) this.backoff.reset();
    this.schedule(healthy ? CHECK_EVERY_MS : this.backoff.next());
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), ms);
  }

  /** Logs a cause once per LOG_EVERY_MS (or when it changes). */
  private trouble(cause: string): void {
    const now = Date.now();
    if (cause === this.lastLog.cause && now - this.lastLog.at < LOG_EVERY_MS) return;
    this.lastLog = { cause, at: now };
    this.log.warn({ stream: this.stream, cause }, "stream unavailable; retrying with backoff");
  }
}
