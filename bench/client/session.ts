/**
 * Client protocol sessions of a worker (`protocol` and `track` read modes; the Go peer's JSON
 * protocol v1 too, whose replies carry `result`): what a socket's
 * connect and subscribe replies said, and for `track` sockets the publication offsets they saw
 * and their reconnects. Kept beside the Conn (same index), which stays a byte counter: only a
 * socket's first frames are decoded (until the subscribe reply), and a `track` socket's later
 * frames are scanned for `"offset":N`, not parsed.
 */
import type { Conn } from "./conn.ts";
import { wallNow, type ReconnectPlan, type SessionStats } from "./messages.ts";

/** The handshake's subscribe command id: its reply makes a session ready. */
export const SUBSCRIBE_ID = 2;
/** A reconnect that got no subscribe reply in this long is dropped and tried again. */
const RECONNECT_TIMEOUT_MS = 10_000;
const OFFSET = '"offset":';

/** One socket's session, across its reconnects. */
export interface Session {
  token: string;
  /** Keep scanning frames for offsets once ready (`track`). */
  track: boolean;
  /** The connection now in use (undefined between a failure and the next attempt). */
  conn: Conn | undefined;
  ready: boolean;
  /** Wall-clock ms the current connection was started. */
  startedAt: number;
  epoch: string;
  /** The last publication offset seen. */
  last: number;
  /** The current connection asks to recover (a reconnect). */
  recovering: boolean;
  /** Its subscribe reply said `recovered: true`. */
  recoveredReply: boolean;
  /** Wall-clock ms it recovered (0: not yet). */
  recoveredAt: number;
  attempts: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** What the sessions need from their worker. */
export interface SessionHooks {
  /** The first connection of a session settled: ready (its subscribe reply arrived without error) or failed. */
  done(c: Conn, ok: boolean, why?: string): void;
  /** Opens a new connection for session `index` sending `handshake` after the upgrade; returns it. */
  connect(index: number, plan: ReconnectPlan, handshake: string): Conn;
}

interface Counters {
  firstStartAt: number;
  lastReadyAt: number;
  failures: Record<string, number>;
  reconnects: number;
  notRecovered: number;
  missing: number;
  duplicates: number;
  recoveredAt: number[];
  readyMs: number[];
}

const freshCounters = (): Counters => ({ firstStartAt: 0, lastReadyAt: 0, failures: {}, reconnects: 0, notRecovered: 0, missing: 0, duplicates: 0, recoveredAt: [], readyMs: [] });

/** The subscribe result fields read here. */
interface SubscribeResult {
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  publications?: { offset?: number }[];
}

export class ProtocolSessions {
  private readonly list: (Session | undefined)[] = [];
  private plan: ReconnectPlan | undefined;
  private c = freshCounters();

  constructor(private readonly hooks: SessionHooks) {}

  /** Starts session `index` (a first connection on `conn`). */
  start(index: number, conn: Conn, token: string, track: boolean): Session {
    const s: Session = { token, track, conn, ready: false, startedAt: wallNow(), epoch: "", last: 0, recovering: false, recoveredReply: false, recoveredAt: 0, attempts: 0, timer: undefined };
    this.list[index] = s;
    if (this.c.firstStartAt === 0) this.c.firstStartAt = s.startedAt;
    return s;
  }

  /** The session `c` belongs to, while it is that session's current connection. */
  of(c: Conn): Session | undefined {
    const s = this.list[c.index];
    return s !== undefined && s.conn === c ? s : undefined;
  }

  /** What `track` sockets do when the server closes them (null: nothing). */
  arm(plan: ReconnectPlan | null): void {
    this.plan = plan ?? undefined;
  }

  resetCounters(): void {
    this.c = freshCounters();
  }

  /** Forgets every session (their sockets are being closed) and the plan. */
  clear(): void {
    this.plan = undefined;
    for (const s of this.list) if (s) clearTimeout(s.timer);
    this.list.length = 0;
  }

  /** A complete text frame of a session's current connection. */
  text(c: Conn, s: Session, text: string, at: number): void {
    if (s.ready) {
      if (s.track) this.scan(s, text, 0, at);
      return;
    }
    // Before the subscribe reply: the connect and subscribe replies, a few frames per socket, parsed.
    for (let from = 0; from < text.length; ) {
      let nl = text.indexOf("\n", from);
      if (nl < 0) nl = text.length;
      const line = text.slice(from, nl);
      from = nl + 1;
      if (s.ready) {
        if (s.track) this.scan(s, line, 0, at);
        continue;
      }
      // The Go centrifuge library's JSON protocol (v1) answers `{"id":2,"result":{...}}` where the client protocol has `subscribe`.
      let v: { id?: number; error?: { code?: number }; subscribe?: SubscribeResult; result?: SubscribeResult };
      try {
        v = JSON.parse(line) as typeof v;
      } catch {
        return this.failed(c, s, "unreadable reply");
      }
      if (v.error) return this.failed(c, s, `error ${v.error.code ?? "?"}`);
      const subscribed = v.subscribe ?? v.result;
      if (v.id === SUBSCRIBE_ID && subscribed) this.subscribed(c, s, subscribed, at);
    }
  }

  /** The session's connection closed (`c` was upgraded). */
  closed(c: Conn, s: Session, expected: boolean, code: number | undefined): void {
    if (!s.ready) return this.failed(c, s, `close ${code ?? 1006}`);
    s.ready = false;
    s.conn = undefined;
    if (!expected && s.track && this.plan) this.schedule(c.index, s, this.plan);
  }

  /** The connection failed before its subscribe reply (a refused upgrade, an error reply, a close). */
  failed(c: Conn, s: Session, why: string): void {
    if (s.conn !== c) return;
    s.conn = undefined;
    s.ready = false;
    clearTimeout(s.timer);
    this.c.failures[why] = (this.c.failures[why] ?? 0) + 1;
    if (!c.done) c.close();
    if (!s.recovering) return this.hooks.done(c, false, why);
    if (this.plan && s.attempts < this.plan.maxAttempts) this.schedule(c.index, s, this.plan);
    else this.c.failures["gave up"] = (this.c.failures["gave up"] ?? 0) + 1;
  }

  stats(upTo?: number, times = false): SessionStats {
    let sessions = 0;
    let ready = 0;
    let short = 0;
    let min = Infinity;
    let max = 0;
    for (const s of this.list) {
      if (!s) continue;
      sessions++;
      if (s.ready) ready++;
      if (s.last < min) min = s.last;
      if (s.last > max) max = s.last;
      if (upTo !== undefined && s.last < upTo) short += upTo - s.last;
    }
    const { recoveredAt, readyMs, ...rest } = this.c;
    return {
      ...rest,
      failures: { ...rest.failures },
      sessions,
      ready,
      recovered: recoveredAt.length,
      minOffset: sessions > 0 ? min : 0,
      maxOffset: max,
      short,
      ...(times ? { recoveredAt, readyMs } : {}),
    };
  }

  private subscribed(c: Conn, s: Session, r: SubscribeResult, at: number): void {
    const top = r.offset ?? 0;
    if (!s.recovering) {
      s.epoch = r.epoch ?? "";
      s.last = top;
    } else if (r.recovered === true && r.epoch === s.epoch) {
      for (const p of r.publications ?? []) this.offset(s, p.offset ?? 0, at);
      if (top > s.last) {
        // The position is past the last publication given: those between were not.
        this.c.missing += top - s.last;
        s.last = top;
      }
      s.recoveredReply = true;
    } else {
      this.c.notRecovered++;
      if (top > s.last) this.c.missing += top - s.last;
      s.last = Math.max(s.last, top);
      s.epoch = r.epoch ?? "";
    }
    s.ready = true;
    clearTimeout(s.timer);
    if (at > this.c.lastReadyAt) this.c.lastReadyAt = at;
    if (!s.recovering) this.c.readyMs.push(at - s.startedAt);
    this.reached(s, at);
    // Only the first frames are decoded: a `protocol` socket is a byte counter from here on.
    if (!s.track) c.decodeText = false;
    if (!s.recovering) this.hooks.done(c, true);
  }

  /** Every `"offset":N` in `text` from `from`: one per publication push (the data sent here holds no such key). */
  private scan(s: Session, text: string, from: number, at: number): void {
    for (let i = text.indexOf(OFFSET, from); i >= 0; i = text.indexOf(OFFSET, i)) {
      i += OFFSET.length;
      let v = 0;
      for (let ch = text.charCodeAt(i); ch >= 48 && ch <= 57; ch = text.charCodeAt(++i)) v = v * 10 + (ch - 48);
      this.offset(s, v, at);
    }
  }

  private offset(s: Session, v: number, at: number): void {
    if (v <= s.last) {
      this.c.duplicates++;
      return;
    }
    if (v > s.last + 1) this.c.missing += v - s.last - 1;
    s.last = v;
    if (s.recoveredReply && s.recoveredAt === 0) this.reached(s, at);
  }

  private reached(s: Session, at: number): void {
    if (s.recoveredReply && s.recoveredAt === 0 && this.plan && s.last >= this.plan.target) {
      s.recoveredAt = at;
      this.c.recoveredAt.push(at);
    }
  }

  /** Connects again after a random delay of up to the plan's jitter, recovering from the last offset. */
  private schedule(index: number, s: Session, plan: ReconnectPlan): void {
    clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      if (this.plan !== plan || this.list[index] !== s) return;
      s.attempts++;
      s.recovering = true;
      s.recoveredReply = false;
      s.startedAt = wallNow();
      this.c.reconnects++;
      const handshake = `${JSON.stringify({ id: 1, connect: { token: s.token } })}\n${JSON.stringify({ id: SUBSCRIBE_ID, subscribe: { channel: plan.channel, recover: true, offset: s.last, epoch: s.epoch } })}`;
      const c = this.hooks.connect(index, plan, handshake);
      s.conn = c;
      s.timer = setTimeout(() => this.failed(c, s, "no reply"), RECONNECT_TIMEOUT_MS);
    }, Math.random() * plan.jitterMs);
  }
}

/** Sums several workers' session stats (minOffset over the workers that have sessions). */
export function sumSessions(all: SessionStats[]): SessionStats {
  const t: SessionStats = { sessions: 0, ready: 0, firstStartAt: 0, lastReadyAt: 0, failures: {}, reconnects: 0, recovered: 0, notRecovered: 0, missing: 0, duplicates: 0, minOffset: Infinity, maxOffset: 0, short: 0 };
  for (const s of all) {
    t.sessions += s.sessions;
    t.ready += s.ready;
    if (s.firstStartAt > 0 && (t.firstStartAt === 0 || s.firstStartAt < t.firstStartAt)) t.firstStartAt = s.firstStartAt;
    t.lastReadyAt = Math.max(t.lastReadyAt, s.lastReadyAt);
    for (const [k, v] of Object.entries(s.failures)) t.failures[k] = (t.failures[k] ?? 0) + v;
    t.reconnects += s.reconnects;
    t.recovered += s.recovered;
    t.notRecovered += s.notRecovered;
    t.missing += s.missing;
    t.duplicates += s.duplicates;
    if (s.sessions > 0) t.minOffset = Math.min(t.minOffset, s.minOffset);
    t.maxOffset = Math.max(t.maxOffset, s.maxOffset);
    t.short += s.short;
    if (s.recoveredAt) (t.recoveredAt ??= []).push(...s.recoveredAt);
    if (s.readyMs) (t.readyMs ??= []).push(...s.readyMs);
  }
  if (t.minOffset === Infinity) t.minOffset = 0;
  return t;
}
