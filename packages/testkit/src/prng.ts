/** A small seeded PRNG (mulberry32) with helpers, so a fuzz run can be repeated from its seed. */
export class Prng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A seed from FUZZ_SEED when set, otherwise from the clock. */
  static seedFromEnv(name = "FUZZ_SEED"): number {
    const raw = process.env[name];
    if (raw !== undefined && /^\d+$/.test(raw)) return Number(raw) >>> 0;
    return (Date.now() ^ (process.pid << 16)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.next() * 256) | 0;
    return out;
  }

  /** A random string of `n` code points: ASCII, control characters, BMP, astral, JSON-special characters. */
  string(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) {
      const k = this.next();
      if (k < 0.6) s += String.fromCharCode(this.int(0x20, 0x7e));
      else if (k < 0.7) s += String.fromCharCode(this.int(0, 0x1f));
      else if (k < 0.8) s += this.pick(['"', "\\", "{", "}", "[", "]", ":", ",", "\u2028", "\u0000", "."]);
      else if (k < 0.95) s += String.fromCharCode(this.int(0xa0, 0xd7ff));
      else s += String.fromCodePoint(this.int(0x10000, 0x10ffff));
    }
    return s;
  }

  /** A random JSON-able value, at most `depth` levels deep. */
  json(depth = 3): unknown {
    const k = this.int(0, depth > 0 ? 7 : 4);
    switch (k) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, this.int(-1e6, 1e6)]);
      case 3:
      case 4:
        return this.string(this.int(0, 20));
      case 5:
        return Array.from({ length: this.int(0, 4) }, () => this.json(depth - 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(0, 4); i > 0; i--) o[this.pick(["content", "type", "__proto__", "constructor", "a", "user_id", "body", "data", "title", this.string(3)])] = this.json(depth - 1);
        return o;
      }
    }
  }
}
