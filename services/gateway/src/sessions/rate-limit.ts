/** A token bucket: `ratePerSec` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly ratePerSec: number, private readonly burst: number) {
    this.tokens = burst;
    this.last = performance.now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSec);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A bucket per socket, or undefined when the limit is off (rate 0). */
export function newBucket(ratePerSec: number, burst: number): TokenBucket | undefined {
  return ratePerSec > 0 ? new TokenBucket(ratePerSec, Math.max(1, burst)) : undefined;
}
