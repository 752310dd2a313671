import { headers as newHeaders, type Msg, type MsgHdrs, type Payload, type PublishOptions } from "@nats-io/transport-node";
import { streamAdvisorySubjects } from "@rt/protocol";
import { MemoryStream, apiError, readHeaders, subjectMatches } from "./memory-stream.ts";
import type { BrokerStreams, MsgQuery, ReadMsg, StreamSettings, StreamState } from "./streams.ts";

/** One subscription on the in-memory server. */
export interface MemorySub {
  subject: string;
  queue: string | undefined;
  /** The connection it belongs to: false while that connection is down (messages for it are lost, as on NATS). */
  up(): boolean;
  /** Its connection's id (no echo: a connection's own publishes skip its subscriptions when it asks). */
  conn: number;
  noEcho: boolean;
  deliver(msg: Msg): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message as the in-memory server delivers it (the shape of nats.js's). */
class MemoryMsg implements Msg {
  constructor(
    readonly subject: string,
    readonly sid: number,
    readonly data: Uint8Array,
    readonly headers: MsgHdrs | undefined,
    readonly reply: string | undefined,
    private readonly answer: (subject: string, payload: Payload | undefined, opts: PublishOptions | undefined) => boolean,
  ) {}
  respond(payload?: Payload, opts?: PublishOptions): boolean {
    return this.reply ? this.answer(this.reply, payload, opts) : false;
  }
  json<T>(): T {
    return JSON.parse(this.string()) as T;
  }
  string(): string {
    return decoder.decode(this.data);
  }
}

/** Bytes of a payload as nats.js takes it. */
export function payloadBytes(p: Payload | undefined): Uint8Array {
  return p === undefined ? new Uint8Array(0) : typeof p === "string" ? encoder.encode(p) : p;
}

/**
 * An in-memory NATS server for in-process tests: core publish/subscribe with `*`/`>` wildcards and
 * queue groups, no-responders statuses, and JetStream streams (memory-stream.ts) with their API,
 * republish, acks and created/deleted advisories. Connections are MemoryBrokers. Every delivery
 * goes through one queue in publish order, drained on the microtask queue: nothing is delivered
 * inside `publish`, and the same program always sees the same order.
 */
export class MemoryNats {
  /** The largest message taken (nats-server's default). */
  readonly maxPayload: number;
  private readonly subs = new Set<MemorySub>();
  private readonly streams = new Map<string, MemoryStream>();
  private readonly queue: Array<() => void> = [];
  private draining = false;
  private rotor = 0;
  private lastCreated = 0;
  private readonly now: () => number;
  private losing: ((subject: string, conn: number) => boolean) | undefined;

  constructor(opts: { maxPayload?: number; now?: () => number } = {}) {
    this.maxPayload = opts.maxPayload ?? 1024 * 1024;
    this.now = opts.now ?? Date.now;
  }

  subscribe(sub: MemorySub): void {
    this.subs.add(sub);
  }

  unsubscribe(sub: MemorySub): void {
    this.subs.delete(sub);
  }

  /** Fault injection: deliveries for which `fn(subject, connection id)` is true are lost (undefined: none are). */
  loseWhen(fn: ((subject: string, conn: number) => boolean) | undefined): void {
    this.losing = fn;
  }

  /** Runs `fn` after everything queued before it is delivered. */
  after(fn: () => void): void {
    this.enqueue(fn);
  }

  /**
   * A core publish from connection `conn`: to every matching subscription (one per queue group),
   * into the stream whose subjects take it (republished, acked to `reply`), or, with a reply and
   * no taker at all, a 503 status to `reply`.
   */
  publish(conn: number, subject: string, data: Uint8Array, hdrs: MsgHdrs | undefined, reply: string | undefined): void {
    const headers = readHeaders(hdrs);
    const takers = this.route(conn, subject, data, headers, reply);
    const stream = [...this.streams.values()].find((s) => s.captures(subject));
    if (stream) return this.store(stream, subject, data, headers, reply);
    if (reply && takers === 0) this.route(0, reply, new Uint8Array(0), newHeaders(503, "No Responders"), undefined);
  }

  /** Delivers to the subscriptions matching `subject`; how many it reached. */
  private route(conn: number, subject: string, data: Uint8Array, headers: MsgHdrs | undefined, reply: string | undefined): number {
    const groups = new Map<string, MemorySub[]>();
    const plain: MemorySub[] = [];
    for (const sub of this.subs) {
      if (!subjectMatches(sub.subject, subject) || (sub.noEcho && sub.conn === conn)) continue;
      if (sub.queue === undefined) plain.push(sub);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    }
    for (const members of groups.values()) plain.push(members[this.rotor++ % members.length]!);
    for (const sub of plain) {
      this.enqueue(() => {
        if (!this.subs.has(sub) || !sub.up()) return; // unsubscribed or its link down meanwhile: lost, as on NATS
        if (this.losing?.(subject, sub.conn)) return;
        sub.deliver(new MemoryMsg(subject, 0, data, headers, reply, (to, payload, opts) => (this.publish(sub.conn, to, payloadBytes(payload), opts?.headers, opts?.reply), true)));
      });
    }
    return plain.length;
  }

  private store(stream: MemoryStream, subject: string, data: Uint8Array, headers: MsgHdrs | undefined, reply: string | undefined): void {
    const r = stream.store(subject, data, headers);
    if ("error" in r) {
      if (reply) this.route(0, reply, encoder.encode(JSON.stringify({ error: r.error })), undefined, undefined);
      return;
    }
    const to = r.stored && stream.republishSubject(subject);
    if (r.stored && to) {
      const h = readHeaders(r.stored.headers) ?? newHeaders();
      h.set("Nats-Stream", stream.name);
      h.set("Nats-Subject", subject);
      h.set("Nats-Sequence", String(r.seq));
      h.set("Nats-Time-Stamp", new Date(r.stored.at).toISOString());
      h.set("Nats-Last-Sequence", String(r.prev));
      this.route(0, to, data, h, undefined);
    }
    if (reply) this.route(0, reply, encoder.encode(JSON.stringify({ stream: stream.name, seq: r.seq, ...(r.duplicate ? { duplicate: true } : {}) })), undefined, undefined);
  }

  // JetStream's API, as a connection's BrokerStreams asks it.

  info(name: string): StreamState {
    return { created: this.stream(name).created };
  }

  /** Creates the stream, or brings the existing one to `settings` (its name and storage stay). */
  ensure(settings: StreamSettings): void {
    const had = this.streams.get(settings.name);
    if (had) {
      const { name: _name, storage: _storage, ...update } = settings;
      return had.update(update);
    }
    this.streams.set(settings.name, new MemoryStream(settings, this.created(), this.now));
    this.advise(settings.name, 0);
  }

  /** Deletes a stream (what an operator or a new NATS store does): the next `add` begins a new life, a new epoch. */
  delete(name: string): void {
    this.stream(name);
    this.streams.delete(name);
    this.advise(name, 1);
  }

  get(name: string, query: MsgQuery): ReadMsg | null {
    return this.stream(name).get(query);
  }

  /** Messages a stream keeps now (for tests of its bounds). */
  kept(name: string): number {
    return this.stream(name).size;
  }

  private stream(name: string): MemoryStream {
    const s = this.streams.get(name);
    if (!s) throw apiError(404, 10059, "stream not found");
    return s;
  }

  /** A creation time later than any before (two lives of a stream never share an epoch), in RFC 3339 with nanoseconds as NATS writes it. */
  private created(): string {
    const ns = Math.max(this.now() * 1_000_000, this.lastCreated + 1);
    this.lastCreated = ns;
    const ms = Math.floor(ns / 1_000_000);
    return new Date(ms).toISOString().replace(/\.\d+Z$/, `.${String(ns % 1_000_000_000).padStart(9, "0")}Z`);
  }

  private advise(stream: string, which: 0 | 1): void {
    const subject = streamAdvisorySubjects(stream)[which]!;
    const body = { type: "io.nats.jetstream.advisory.v1.stream_action", stream, action: which === 0 ? "create" : "delete" };
    this.route(0, subject, encoder.encode(JSON.stringify(body)), undefined, undefined);
  }

  private enqueue(fn: () => void): void {
    this.queue.push(fn);
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(() => this.drain());
  }

  private drain(): void {
    // Index, not shift: a long queue drains in linear time; what handlers publish meanwhile joins the end.
    for (let i = 0; i < this.queue.length; i++) {
      try {
        this.queue[i]!();
      } catch {
        // a subscriber's own failure (MemoryBroker logs its handlers' errors); the rest are delivered
      }
    }
    this.queue.length = 0;
    this.draining = false;
  }
}

/** The streams API of one connection to a MemoryNats: fails while that connection is down, as a request would. */
export class MemoryStreams implements BrokerStreams {
  constructor(private readonly nats: MemoryNats, private readonly up: () => boolean) {}

  private check(): void {
    if (!this.up()) throw new Error("not connected to NATS");
  }

  async info(stream: string): Promise<StreamState> {
    this.check();
    return this.nats.info(stream);
  }

  async ensure(settings: StreamSettings): Promise<void> {
    this.check();
    this.nats.ensure(settings);
  }

  async get(stream: string, query: MsgQuery): Promise<ReadMsg | null> {
    this.check();
    return this.nats.get(stream, query);
  }

  async *read(stream: string, subject: string, fromSeq: number): AsyncGenerator<ReadMsg> {
    for (let seq = fromSeq; ; ) {
      const m = await this.get(stream, { seq, next_by_subj: subject });
      if (!m) return;
      yield m;
      seq = m.seq + 1;
    }
  }
}
