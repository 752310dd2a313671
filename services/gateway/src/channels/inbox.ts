import type { Msg } from "@nats-io/transport-node";
import { MAX_LIVE_NOTIFICATION_BYTES, deliveredSubject, depthWithin, liveNotification, notificationFrame, userLiveSubject, type LiveNotification, type StoredNotification } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { NO_COUNTERS, type GatewayCounters } from "../metrics.ts";
import type { Rejections } from "../rejections.ts";
import type { Sink } from "./sink.ts";
import { StreamCursor, type ChainedEvent, type Verdict } from "./cursor.ts";
import type { NotificationStore, StoredEntry } from "./inbox-store.ts";
import { StreamMissingError } from "./stream-get.ts";
import type { StreamEpoch } from "./stream-epoch.ts";
import { SyncTask } from "./sync-task.ts";
import type { EncodingName, PushEncoding } from "../protocols/centrifugo/push.ts";

/** A live notification as the cursor judges it (parsed once per NATS message, shared by the user's sockets). */
export interface LiveEvent extends ChainedEvent {
  n: LiveNotification;
  /** Its size on the wire (what holding it costs). */
  bytes: number;
  /** Frames, serialized on first use per encoding (once per message, whatever the number of sockets). */
  frames: Partial<Record<"legacy" | EncodingName, string | Uint8Array>>;
}

/** How a socket wants notifications framed: `/notifications` frames, or the client protocol's publication pushes in one of its encodings. */
export type InboxEncoding = "legacy" | PushEncoding;

/** Where a subscription starts. */
export type InboxStart =
  /** `/notifications?since=s[&epoch=e]`: after s; from 0 when e is another epoch. */
  | { kind: "since"; since: number; epoch: string | undefined }
  /** The client protocol's recovery: after `offset` when the epoch matches and the offset is still kept; otherwise as `live`. */
  | { kind: "recover"; offset: number; epoch: string }
  /** Everything stored from the moment the socket opened. */
  | { kind: "live" };

/** Where a subscription was placed: its epoch, the seq it starts after, and whether a recovery asked for succeeded. */
export interface InboxPosition {
  epoch: string;
  seq: number;
  recovered: boolean;
}

/** One socket's subscription to one user's inbox (a `/notifications` socket, or a protocol client's `#<user>`). */
export interface InboxSub {
  ws: Sink;
  userId: string;
  encoding: InboxEncoding;
  /** The protocol channel (`#<user>`). */
  channel: string;
  start: InboxStart;
  /** When the socket was accepted (ms, this gateway's clock). */
  openedAt: number;
  cursor: StreamCursor<LiveEvent>;
  /** Its catch-up job (set by Inbox.open). */
  sync: SyncTask | undefined;
  /** Wakes a replay paused for backpressure (set while paused). */
  onDrain: (() => void) | undefined;
  /** Told once where the subscription starts, before anything is written to it. */
  onPositioned: ((p: InboxPosition) => void) | undefined;
  /** Closes the socket: it could not keep up (1013 or 3008). */
  slow: () => void;
}

/** Live events held per socket while it reads from the store (count and payload bytes). */
export const HELD_LIMITS = { maxEvents: 64, maxBytes: 256 * 1024 };
/** A notification read from the store gets a delivery receipt when stored this recently (the longest a sender waits). */
const RECEIPT_WINDOW_MS = 30_000;
/** Read failures are logged at most once per this many ms, with how many were not. */
const LOG_EVERY_MS = 5000;

/** A new subscription (not yet opened). */
export function inboxSub(ws: Sink, userId: string, encoding: InboxEncoding, start: InboxStart, slow: () => void, onPositioned?: (p: InboxPosition) => void): InboxSub {
  return {
    ws,
    userId,
    encoding,
    channel: `#${userId}`,
    start,
    openedAt: Date.now(),
    cursor: new StreamCursor(HELD_LIMITS),
    sync: undefined,
    onDrain: undefined,
    onPositioned,
    slow,
  };
}

/**
 * Per-user notification delivery with resume. Each subscription has a StreamCursor on its user's
 * inbox; live events come from the user's live subject (held while the user has a subscription
 * here), and the store is read when the cursor says so: at open, after a gap, after every
 * reconnect and when the inbox's epoch changes.
 *
 * Where a subscription starts: see InboxStart. "Live" starts after the user's last notification
 * stored before the socket opened (the server's store time against this gateway's clock), so what
 * is stored from the moment it opened reaches it even when the gateway was cut off then. Each
 * subscription has one sync task at a time; a failed read is retried with backoff and jitter, and
 * a missing stream parks every subscription until it is back.
 */
export class Inbox {
  private readonly users = new Map<string, Set<InboxSub>>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  /** Subscriptions waiting for the stream to exist again. */
  private readonly parked = new Set<InboxSub>();
  private failures = { count: 0, at: 0 };

  constructor(
    private readonly broker: Broker,
    private readonly store: NotificationStore,
    private readonly epoch: StreamEpoch,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Unsent output a socket may hold (BACKPRESSURE_LIMIT_BYTES); a replay pauses at half of it. */
    private readonly limitBytes: number,
    private readonly counters: GatewayCounters = NO_COUNTERS,
  ) {
    broker.onUp(() => this.resumeAll());
    epoch.onChange((e) => this.epochChanged(e));
  }

  /** A subscription starts: hold the user's live subject first, then place the cursor. */
  open(sub: InboxSub): void {
    let subs = this.users.get(sub.userId);
    if (!subs) {
      subs = new Set();
      this.users.set(sub.userId, subs);
      const userId = sub.userId;
      this.broker.acquire(userLiveSubject(userId), (msg) => this.onLive(userId, msg));
    }
    subs.add(sub);
    sub.sync = new SyncTask(() => this.syncOnce(sub), () => sub.cursor.closed, (err) => this.readFailed(sub, err));
    void this.sync(sub);
  }

  /** A subscription ends (its socket closed, or the client unsubscribed). */
  close(sub: InboxSub): void {
    sub.cursor.close();
    sub.sync?.stop();
    this.parked.delete(sub);
    this.drain(sub);
    const subs = this.users.get(sub.userId);
    if (!subs?.delete(sub)) return;
    if (subs.size === 0) {
      this.users.delete(sub.userId);
      this.broker.release(userLiveSubject(sub.userId));
    }
  }

  /** Bun's drain event: the socket's output shrank, so a paused replay may go on. */
  drain(sub: InboxSub): void {
    const wake = sub.onDrain;
    sub.onDrain = undefined;
    wake?.();
  }

  /** True while the inbox stream is known to exist (its epoch is read). */
  get available(): boolean {
    return this.epoch.current !== undefined;
  }

  /** Users with at least one subscription here. */
  get userCount(): number {
    return this.users.size;
  }

  /** Subscriptions here (`/notifications` sockets and protocol inboxes). */
  get subscriptionCount(): number {
    let n = 0;
    for (const subs of this.users.values()) n += subs.size;
    return n;
  }

  /** Each user with subscriptions here, and how many (for the server API's `channels`). */
  *userCounts(): Generator<[string, number]> {
    for (const [user, subs] of this.users) yield [user, subs.size];
  }

  /** After a (re)connect: every subscription reads what it may have missed (positions it, when not yet). */
  private resumeAll(): void {
    for (const subs of this.users.values()) for (const sub of subs) void this.sync(sub);
  }

  /** The inbox was created anew (or went missing): cursors of the old life start over at 0 of the new one. */
  private epochChanged(epoch: string | undefined): void {
    if (epoch === undefined) return; // subscriptions park on their next read
    for (const subs of this.users.values()) {
      for (const sub of subs) {
        const c = sub.cursor;
        if (c.state !== "positioning" && c.epoch !== epoch) c.position(epoch, 0);
        void this.sync(sub);
      }
    }
    this.parked.clear();
  }

  /** Runs the subscription's catch-up job, or asks the running one to go round again. */
  private sync(sub: InboxSub): Promise<void> {
    return sub.sync?.run() ?? Promise.resolve();
  }

  /** Positions the cursor if needed, then reads the store after it until the end and goes live. */
  private async syncOnce(sub: InboxSub): Promise<void> {
    const c = sub.cursor;
    if (!this.broker.connected()) return; // onUp resumes
    if (c.state === "positioning") {
      const epoch = this.epoch.current;
      if (epoch === undefined) return this.park(sub);
      const start = await this.startPosition(sub, epoch);
      if (c.state !== "positioning") return; // closed, or placed by an epoch change meanwhile
      c.position(epoch, start.seq);
      if (sub.start.kind !== "live") this.counters.recovery("personal", start.recovered);
      sub.onPositioned?.({ epoch, seq: start.seq, recovered: start.recovered });
      sub.onPositioned = undefined;
      if (start.newest) this.goLive(sub); // what is stored after the read arrives live
    } else if (c.state === "live") c.replay(); // a reconnect: read what the outage may have hidden
    while (c.state === "replaying") {
      const generation = c.generation;
      let atEnd = true;
      for await (const entry of this.store.read(sub.userId, c.last + 1)) {
        if (c.generation !== generation || c.state !== "replaying") {
          atEnd = false; // repositioned (read from the new place) or closed
          break;
        }
        if (!this.write(sub, this.frame(sub, entry.notification, entry.seq, c.epoch!))) return;
        c.wrote(entry.seq);
        if (entry.at > Date.now() - RECEIPT_WINDOW_MS) this.broker.publish(deliveredSubject(entry.notification.id), "");
        // Flow control: a long replay goes at the client's pace instead of piling up in memory.
        if (sub.ws.getBufferedAmount() > this.limitBytes / 2) await new Promise<void>((resolve) => (sub.onDrain = resolve));
      }
      if (c.generation !== generation) continue;
      if (c.state !== "replaying") return;
      if (atEnd) this.goLive(sub); // the store has nothing more (still replaying if what was held overflowed: read again)
    }
  }

  /** Where a subscription's cursor starts (see InboxStart). */
  private async startPosition(sub: InboxSub, epoch: string): Promise<{ seq: number; newest: boolean; recovered: boolean }> {
    const s = sub.start;
    if (s.kind === "since") return { seq: s.epoch === undefined || s.epoch === epoch ? s.since : 0, newest: false, recovered: true };
    if (s.kind === "recover" && s.epoch === epoch && (s.offset === 0 || (await this.store.at(sub.userId, s.offset)) !== undefined)) {
      return { seq: s.offset, newest: false, recovered: true };
    }
    let e: StoredEntry | undefined = await this.store.last(sub.userId);
    if (!e) return { seq: 0, newest: true, recovered: false };
    let newest = true;
    // Walk the user's chain back past what was stored after the socket opened (usually nothing).
    while (e && e.at >= sub.openedAt) {
      newest = false;
      const prev: number = e.notification.prev_seq;
      if (prev === 0) return { seq: 0, newest, recovered: false };
      e = await this.store.at(sub.userId, prev);
      if (!e) return { seq: prev, newest, recovered: false }; // trimmed: nothing older is left either
    }
    return { seq: e.seq, newest, recovered: false };
  }

  /** The store has nothing more: judge the held events and go live (or read again when they overflowed). */
  private goLive(sub: InboxSub): void {
    const c = sub.cursor;
    const held = c.endReplay();
    if (!held) return; // overflowed: still replaying, the loop reads again
    for (const e of held) {
      this.offer(sub, e);
      if (c.state !== "live") return; // a gap: back to reading (the rest are in the store too)
    }
  }

  /** Waits for the stream: the subscription syncs again once its epoch is known (at once if it already is). */
  private park(sub: InboxSub): void {
    this.parked.add(sub);
    void this.epoch.refresh().then(() => {
      if (this.epoch.current === undefined) return; // epochChanged wakes them when it is back
      const parked = [...this.parked];
      this.parked.clear();
      for (const p of parked) void this.sync(p);
    });
  }

  /** A read failed: park on a missing stream (it runs again when the stream is back), else retry with backoff and jitter. */
  private readFailed(sub: InboxSub, err: unknown): "backoff" | undefined {
    this.countFailure(err);
    if (!(err instanceof StreamMissingError)) return "backoff";
    this.park(sub);
    return undefined;
  }

  /** Logs read failures at most once per LOG_EVERY_MS, with the number not logged. */
  private countFailure(err: unknown): void {
    this.failures.count++;
    const now = Date.now();
    if (now - this.failures.at < LOG_EVERY_MS) return;
    this.log.warn({ err: String(err), failures: this.failures.count }, "notifications: reading the store failed; retrying with backoff");
    this.failures = { count: 0, at: now };
  }

  private onLive(userId: string, msg: Msg): void {
    const n = this.parseLive(msg);
    if (!n || n.user_id !== userId) {
      this.rejections.count("nats_notification_payload", this.log, { subject: msg.subject });
      return;
    }
    const subs = this.users.get(userId);
    if (!subs) return;
    const e: LiveEvent = { seq: n.seq, prev: n.prev_seq, epoch: n.epoch, n, bytes: msg.data.byteLength, frames: {} };
    let delivered = false;
    for (const sub of subs) delivered = this.offer(sub, e) || delivered;
    this.counters.messageOut("personal");
    if (delivered) this.broker.publish(deliveredSubject(n.id), "");
  }

  /** Applies the cursor's verdict to one live event; true when it was written to the socket. */
  private offer(sub: InboxSub, e: LiveEvent): boolean {
    const c = sub.cursor;
    const verdict: Verdict = c.judge(e);
    switch (verdict) {
      case "write": {
        const key = sub.encoding === "legacy" ? "legacy" : sub.encoding.name;
        const text = (e.frames[key] ??= this.frame(sub, e.n, e.seq, c.epoch!));
        if (!this.write(sub, text)) return false;
        c.wrote(e.seq);
        return true;
      }
      case "hold":
        c.hold(e, e.bytes);
        return false;
      case "gap":
        c.hold(e, e.bytes);
        c.replay();
        void this.sync(sub);
        return false;
      case "epoch":
        // Our epoch is stale when the event names the current one; an epoch we do not know makes us look.
        if (e.epoch !== undefined && e.epoch === this.epoch.current) {
          c.position(e.epoch, 0);
          void this.sync(sub);
        } else void this.epoch.refresh();
        return false;
      case "skip":
        return false;
    }
  }

  /** The frame for one notification in the subscription's encoding. */
  private frame(sub: InboxSub, n: StoredNotification, seq: number, epoch: string): string | Uint8Array {
    const legacy = notificationFrame(n, seq, epoch);
    return sub.encoding === "legacy" ? legacy : sub.encoding.publication(sub.channel, legacy, seq);
  }

  /** Writes a frame; a socket that cannot take it is closed (it resumes from its position), never skipped. */
  private write(sub: InboxSub, text: string | Uint8Array): boolean {
    const ws = sub.ws;
    const sent = ws.getBufferedAmount() + text.length > this.limitBytes ? 0 : ws.send(text);
    if (sent === 0) {
      sub.cursor.close();
      sub.slow();
      return false;
    }
    return true;
  }

  private parseLive(msg: Msg): LiveNotification | undefined {
    if (msg.data.byteLength > MAX_LIVE_NOTIFICATION_BYTES) return undefined;
    try {
      const value: unknown = JSON.parse(this.decoder.decode(msg.data));
      return liveNotification.check(value) && depthWithin(value.data) ? value : undefined;
    } catch {
      return undefined;
    }
  }
}
