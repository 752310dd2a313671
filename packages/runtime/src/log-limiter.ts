import type { Logger } from "./logger.ts";

/**
 * Warnings about bad input, at most one per key every `everyMs` (each with how many were held back
 * since the last), so that a flood of it cannot fill the disk. Keys are a fixed set (reasons,
 * responders), never text from outside.
 */
export class LogLimiter {
  private readonly lastLogged = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();
  constructor(private readonly everyMs = 5000) {}

  /** Logs `msg` at warn level with `fields` and `suppressed`, unless `key` was logged less than `everyMs` ago (then only counts it). */
  warn(log: Logger, key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - (this.lastLogged.get(key) ?? 0) < this.everyMs) {
      this.suppressed.set(key, (this.suppressed.get(key) ?? 0) + 1);
      return;
    }
    const suppressed = this.suppressed.get(key) ?? 0;
    this.suppressed.delete(key);
    this.lastLogged.set(key, now);
    log.warn({ ...fields, suppressed }, msg);
  }
}
