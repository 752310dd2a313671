import type { PresenceAnswer } from "@rt/protocol";

/** The most bytes of one part of a presence answer (a NATS message; the server's limit is 1 MB by default). */
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

/** A member's bytes in an answer: `["client","user"],` with room for escapes. */
export const memberBytes = (m: readonly [string, string]): number => m[0].length + 2 * m[1].length + 8;
export const userBytes = (u: string): number => 2 * u.length + 3;

/** One gateway's answer, put back together from its parts. */
export interface GatewayAnswer {
  members: Array<[string, string]>;
  clients: number;
  users: string[];
}

/**
 * Collects the answers to one presence question: every part of every gateway's answer, until
 * `expected` gateways have answered in full. Parts that repeat, contradict their gateway's part
 * count, or come from more gateways than expected are ignored.
 */
export class AnswerCollector {
  private readonly partial = new Map<string, { parts: number; got: Set<number>; answer: GatewayAnswer }>();
  private readonly full = new Map<string, GatewayAnswer>();

  constructor(private readonly expected: number) {}

  /** Takes one part; true once every expected gateway has answered in full. */
  take(a: PresenceAnswer): boolean {
    if (this.full.has(a.gateway) || a.part >= a.parts) return this.done;
    let p = this.partial.get(a.gateway);
    if (!p) {
      if (this.partial.size + this.full.size >= this.expected) return this.done;
      p = { parts: a.parts, got: new Set(), answer: { members: [], clients: 0, users: [] } };
      this.partial.set(a.gateway, p);
    }
    if (p.parts !== a.parts || p.got.has(a.part)) return this.done;
    p.got.add(a.part);
    if (a.members) for (const m of a.members) p.answer.members.push(m);
    if (a.users) for (const u of a.users) p.answer.users.push(u);
    p.answer.clients += a.clients ?? 0;
    if (p.got.size === p.parts) {
      this.partial.delete(a.gateway);
      this.full.set(a.gateway, p.answer);
    }
    return this.done;
  }

  /** True once every expected gateway has answered in full. */
  get done(): boolean {
    return this.full.size >= this.expected;
  }

  /** The gateways that answered in full, with their answers. */
  answers(): ReadonlyMap<string, GatewayAnswer> {
    return this.full;
  }
}
