/**
 * Lets one event through per `everyMs` and counts the rest, so a failure repeating every tick is
 * logged now and then with how many were left out, not once per tick.
 */
export class Throttle {
  private last = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(private readonly everyMs: number, private readonly now: () => number = () => performance.now()) {}

  /** The number of events held back since the last one let through, or undefined to hold this one back. */
  take(): number | undefined {
    const t = this.now();
    if (t - this.last < this.everyMs) {
      this.suppressed++;
      return undefined;
    }
    this.last = t;
    const n = this.suppressed;
    this.suppressed = 0;
    return n;
  }

  /** Starts afresh: the next event goes through. */
  reset(): void {
    this.last = Number.NEGATIVE_INFINITY;
    this.suppressed = 0;
  }
}
