import { DiscardPolicy, JetStreamApiError, type StreamConfig } from "@nats-io/jetstream";
import { MsgHdrsImpl, type MsgHdrs } from "@nats-io/transport-node";
import type { MsgQuery, ReadMsg, StreamSettings } from "./streams.ts";

/** One message as the in-memory stream keeps it. */
export interface MemoryStored {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
  /** When it was stored (ms). */
  at: number;
  /** What it counts against `max_bytes` (as nats-server's memory store counts it). */
  size: number;
}

/** What storing one publication gave: its seq (or the one a repeat was stored under first), or JetStream's refusal. */
export type StoreResult = { seq: number; duplicate: boolean; prev: number; stored: MemoryStored | undefined } | { error: { code: number; err_code: number; description: string } };

/** JetStream's defaults for what the gateway leaves unset. */
const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
const NANOS_PER_MS = 1_000_000;

/** A JetStream API failure as nats.js gives it. */
export function apiError(code: number, err_code: number, description: string): JetStreamApiError {
  return new JetStreamApiError({ code, err_code, description });
}

/** True when `subject` matches `pattern` (NATS wildcards: `*` one token, `>` the rest). */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * One JetStream stream in memory, as nats-server keeps one with the settings the gateway uses:
 * a sequence per stream, per-subject history (`max_msgs_per_subject`), total bounds (`max_msgs`,
 * `max_bytes`, discarding the oldest), `max_age` (applied before every read and store),
 * `max_msg_size` (refused with 10054), `Nats-Msg-Id` deduplication within `duplicate_window`,
 * and `republish` (`src` and `dest` exact or ending in `>`). Only discard-old is modelled.
 */
export class MemoryStream {
  private config: StreamSettings;
  private readonly msgs = new Map<number, MemoryStored>();
  /** Seqs per subject, ascending (the oldest of a subject always goes first). */
  private readonly bySubject = new Map<string, number[]>();
  private readonly ids = new Map<string, { seq: number; at: number }>();
  private lastSeq = 0;
  private bytes = 0;

  constructor(settings: StreamSettings, readonly created: string, private readonly now: () => number) {
    if (settings.discard === DiscardPolicy.New) throw apiError(400, 10052, "discard new is not modelled by the memory broker");
    this.config = { ...settings };
  }

  get name(): string {
    return this.config.name;
  }

  get settings(): StreamSettings {
    return this.config;
  }

  /** True when this stream takes publishes on `subject`. */
  captures(subject: string): boolean {
    return (this.config.subjects ?? []).some((p) => subjectMatches(p, subject));
  }

  /** New limits; what they no longer allow goes at once. */
  update(settings: Partial<StreamConfig>): void {
    if (settings.discard === DiscardPolicy.New) throw apiError(400, 10052, "discard new is not modelled by the memory broker");
    this.config = { ...this.config, ...settings, name: this.config.name };
    for (const seqs of this.bySubject.values()) this.trimSubject(seqs);
    this.trimTotal();
  }

  store(subject: string, data: Uint8Array, headers: MsgHdrs | undefined): StoreResult {
    const now = this.now();
    this.expire(now);
    const maxSize = this.config.max_msg_size ?? -1;
    if (maxSize > 0 && data.byteLength > maxSize) return { error: { code: 400, err_code: 10054, description: "message size exceeds maximum allowed" } };
    const id = headers?.get("Nats-Msg-Id") ?? "";
    if (id) {
      const windowMs = this.config.duplicate_window ? this.config.duplicate_window / NANOS_PER_MS : DEFAULT_DUPLICATE_WINDOW_MS;
      for (const [k, v] of this.ids) {
        if (v.at >= now - windowMs) break;
        this.ids.delete(k);
      }
      const seen = this.ids.get(id);
      if (seen) return { seq: seen.seq, duplicate: true, prev: 0, stored: undefined };
    }
    const seqs = this.bySubject.get(subject) ?? [];
    const prev = seqs.at(-1) ?? 0;
    const hdrBytes = headers ? encodeHeaders(headers).byteLength : 0;
    const m: MemoryStored = { seq: ++this.lastSeq, subject, data, headers, at: now, size: subject.length + hdrBytes + data.byteLength + 16 };
    this.msgs.set(m.seq, m);
    seqs.push(m.seq);
    this.bySubject.set(subject, seqs);
    this.bytes += m.size;
    if (id) this.ids.set(id, { seq: m.seq, at: now });
    this.trimSubject(seqs);
    this.trimTotal();
    return { seq: m.seq, duplicate: false, prev, stored: m };
  }

  /** The subject stored `m` is republished on, or undefined when `republish` does not cover it. */
  republishSubject(subject: string): string | undefined {
    const rp = this.config.republish;
    if (!rp || !subjectMatches(rp.src ?? ">", subject)) return undefined;
    const src = rp.src ?? ">";
    if (!src.endsWith(">")) return rp.dest;
    const kept = subject.split(".").slice(src.split(".").length - 1).join(".");
    return rp.dest.endsWith(">") ? `${rp.dest.slice(0, -1)}${kept}` : rp.dest;
  }

  /** MSG.GET: one message, or null when none answers the query. */
  get(query: MsgQuery): ReadMsg | null {
    this.expire(this.now());
    if ("last_by_subj" in query) {
      const exact = this.bySubject.get(query.last_by_subj)?.at(-1);
      if (exact !== undefined) return view(this.msgs.get(exact)!);
      let last: MemoryStored | undefined;
      for (const m of this.msgs.values()) if (subjectMatches(query.last_by_subj, m.subject)) last = m;
      return last ? view(last) : null;
    }
    if ("next_by_subj" in query) {
      const exact = this.bySubject.get(query.next_by_subj);
      if (exact) {
        const seq = exact[lowerBound(exact, query.seq)];
        return seq === undefined ? null : view(this.msgs.get(seq)!);
      }
      for (const m of this.msgs.values()) if (m.seq >= query.seq && subjectMatches(query.next_by_subj, m.subject)) return view(m);
      return null;
    }
    const m = this.msgs.get(query.seq);
    return m ? view(m) : null;
  }

  /** Messages kept now. */
  get size(): number {
    return this.msgs.size;
  }

  private trimSubject(seqs: number[]): void {
    const max = this.config.max_msgs_per_subject ?? -1;
    while (max > 0 && seqs.length > max) this.remove(seqs[0]!);
  }

  private trimTotal(): void {
    const maxMsgs = this.config.max_msgs ?? -1;
    const maxBytes = this.config.max_bytes ?? -1;
    while ((maxMsgs > 0 && this.msgs.size > maxMsgs) || (maxBytes > 0 && this.bytes > maxBytes)) this.remove(this.msgs.keys().next().value!);
  }

  private expire(now: number): void {
    const maxAgeMs = (this.config.max_age ?? 0) / NANOS_PER_MS;
    if (maxAgeMs <= 0) return;
    for (const m of this.msgs.values()) {
      if (m.at > now - maxAgeMs) return;
      this.remove(m.seq);
    }
  }

  /** Removes a subject's oldest message (the only kind the limits remove). */
  private remove(seq: number): void {
    const m = this.msgs.get(seq);
    if (!m) return;
    this.msgs.delete(seq);
    this.bytes -= m.size;
    const seqs = this.bySubject.get(m.subject)!;
    seqs.shift();
    if (seqs.length === 0) this.bySubject.delete(m.subject);
  }
}

/** The first index of `seqs` (ascending) holding a value >= `seq`. */
function lowerBound(seqs: number[], seq: number): number {
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqs[mid]! < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function view(m: MemoryStored): ReadMsg {
  return { seq: m.seq, subject: m.subject, data: m.data, at: m.at, header: (n) => m.headers?.get(n) ?? "" };
}

/** Headers as a publisher gave them, read back into a MsgHdrs (the gateway may pass a hand-encoded block). */
export function readHeaders(h: MsgHdrs | undefined): MsgHdrs | undefined {
  return h ? MsgHdrsImpl.decode(encodeHeaders(h)) : undefined;
}

/** The header block as NATS carries it (nats.js' MsgHdrs encode it, but their public type does not say so). */
function encodeHeaders(h: MsgHdrs): Uint8Array {
  return (h as unknown as { encode(): Uint8Array }).encode();
}
