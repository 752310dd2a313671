import type { Logger } from "@rt/runtime";

/** How often one kind of line may be written. */
export const LOG_EVERY_MS = 5000;

interface Kind {
  /** When its last line was written. */
  at: number;
  /** Lines left out since. */
  suppressed: number;
  /** Writes the count of the ones left out at the end of the window (set while some are). */
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Error lines for failures nobody expects (a handler that threw): at most one line per message
 * every `everyMs`. The ones left out are counted and reported as `suppressed`, on one line at the
 * end of the window. A client or a NATS publisher that makes one happen on every frame cannot flood
 * the log. Messages are constants of the code, so what is kept per message stays small.
 */
export class ThrottledLog {
  private readonly kinds = new Map<string, Kind>();

  constructor(private readonly log: Logger, private readonly everyMs = LOG_EVERY_MS, private readonly now: () => number = Date.now) {}

  /** Logs `msg` at error level with `fields`, unless a line with this `msg` went out within the window (then it is counted). */
  error(fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    const kind = this.kinds.get(msg);
    if (kind && t - kind.at < this.everyMs) {
      kind.suppressed++;
      kind.timer ??= setTimeout(() => this.report(msg, kind), kind.at + this.everyMs - t);
      kind.timer.unref?.();
      return;
    }
    this.kinds.set(msg, { at: t, suppressed: 0, timer: undefined });
    this.log.error(fields, msg);
  }

  /** The window of `msg` ended with lines left out: one line saying how many. */
  private report(msg: string, kind: Kind): void {
    kind.timer = undefined;
    if (kind.suppressed === 0) return;
    this.log.error({ suppressed: kind.suppressed, windowMs: this.everyMs }, `${msg} (more times)`);
    kind.suppressed = 0;
    kind.at = this.now();
  }
}
