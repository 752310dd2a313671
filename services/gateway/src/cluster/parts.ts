/** The most bytes of one part of an answer (a NATS message; the server's limit is 1 MB by default). */
export const PART_BYTES = 128 * 1024;

/** Splits `items` into parts of at most about `maxBytes` each (`size` guesses an item's bytes); always at least one part. */
export function split<T>(items: readonly T[], size: (item: T) => number, maxBytes: number = PART_BYTES): T[][] {
  const parts: T[][] = [[]];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (bytes + n > maxBytes && parts.at(-1)!.length > 0) {
      parts.push([]);
      bytes = 0;
    }
    parts.at(-1)!.push(item);
    bytes += n;
  }
  return parts;
}

/** A string's bytes in a JSON answer, with room for escapes. */
export const textBytes = (s: string): number => 2 * s.length + 3;

/** One message of a gateway's answer in parts. */
export interface Part {
  gateway: string;
  part: number;
  parts: number;
}

/**
 * Collects the answers of many gateways to one question, each in parts, until `expected`
 * gateways have answered in full. Parts that repeat, contradict their gateway's part count, or
 * come from more gateways than expected are ignored.
 */
export class PartsCollector<A extends Part> {
  private readonly partial = new Map<string, A[]>();
  private readonly full = new Map<string, A[]>();

  constructor(private readonly expected: number) {}

  /** Takes one part; true once every expected gateway has answered in full. */
  take(a: A): boolean {
    if (this.full.has(a.gateway) || a.part >= a.parts) return this.done;
    let got = this.partial.get(a.gateway);
    if (!got) {
      if (this.partial.size + this.full.size >= this.expected) return this.done;
      this.partial.set(a.gateway, (got = []));
    }
    if (got.some((p) => p.part === a.part) || (got.length > 0 && got[0]!.parts !== a.parts)) return this.done;
    got.push(a);
    if (got.length === a.parts) {
      this.partial.delete(a.gateway);
      this.full.set(a.gateway, got.sort((x, y) => x.part - y.part));
    }
    return this.done;
  }

  /** True once every expected gateway has answered in full. */
  get done(): boolean {
    return this.full.size >= this.expected;
  }

  /** The gateways that answered in full, each with its parts in order. */
  answers(): ReadonlyMap<string, readonly A[]> {
    return this.full;
  }
}
