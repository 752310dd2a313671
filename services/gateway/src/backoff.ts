/**
 * Exponential backoff with full jitter around the midpoint: the n-th delay is drawn from
 * [0.5, 1.5) x min(base x 2^n, max), so many sockets that failed together do not retry together.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly baseMs: number, private readonly maxMs: number, private readonly random: () => number = Math.random) {}

  /** The next delay in ms. */
  next(): number {
    const ceiling = Math.min(this.baseMs * 2 ** this.attempt, this.maxMs);
    if (ceiling < this.maxMs) this.attempt++;
    return Math.round(ceiling * (0.5 + this.random()));
  }

  /** Back to the first delay (after a success). */
  reset(): void {
    this.attempt = 0;
  }
}
