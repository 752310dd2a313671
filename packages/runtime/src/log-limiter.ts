import type { Logger } from "./logger.ts";

/** How often one kind of line may be written, by default. */
export const LOG_EVERY_MS = 5000;

interface Kind {
  /** When its last line was written. */
  at: number;
  /** Lines left out since. */
  suppressed: number;
  /** Writes the count of the ones left out at the end of the window (set while some are). */
  timer: ReturnType<typeof setTimeout> | undefined;
}

type Level = "warn" | "error";

/**
 * The one rate limit on log lines that input from outside can cause (bad frames, refused replies,
 * a handler that threw on every message): at most one line per key every `everyMs`. The ones left
 * out are counted and reported on one line, `<msg> (more times)` with `suppressed`, at the end of
 * the window, so a flood cannot fill the disk and no count is lost. Keys are a fixed set (reasons,
 * responders, constant messages), never text from outside, so what is kept per key stays small.
 */
export class LogLimiter {
  private readonly kinds = new Map<string, Kind>();

  constructor(private readonly everyMs = LOG_EVERY_MS, private readonly now: () => number = Date.now) {}

  /** Logs `msg` to `log` at warn level with `fields`, unless a line with `key` (default `msg`) went out within the window (then it is counted). */
  warn(log: Logger, fields: Record<string, unknown>, msg: string, key = msg): void {
    this.write(log, "warn", fields, msg, key);
  }

  /** As `warn`, at error level: for failures nobody expects. */
  error(log: Logger, fields: Record<string, unknown>, msg: string, key = msg): void {
    this.write(log, "error", fields, msg, key);
  }

  private write(log: Logger, level: Level, fields: Record<string, unknown>, msg: string, key: string): void {
    const t = this.now();
    const kind = this.kinds.get(key);
    if (kind && t - kind.at < this.everyMs) {
      kind.suppressed++;
      kind.timer ??= setTimeout(() => this.report(log, level, msg, kind), kind.at + this.everyMs - t);
      kind.timer.unref?.();
      return;
    }
    this.kinds.set(key, { at: t, suppressed: 0, timer: undefined });
    log[level](fields, msg);
  }

  /** The window of a key ended with lines left out: one line saying how many. */
  private report(log: Logger, level: Level, msg: string, kind: Kind): void {
    kind.timer = undefined;
    if (kind.suppressed === 0) return;
    log[level]({ suppressed: kind.suppressed, windowMs: this.everyMs }, `${msg} (more times)`);
    kind.suppressed = 0;
    kind.at = this.now();
  }
}
