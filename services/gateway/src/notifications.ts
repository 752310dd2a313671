import type { Msg } from "@nats-io/transport-node";
import { CloseCode, deliveredSubject, depthWithin, liveNotification, notificationFrame, userLiveSubject, type LiveNotification } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import { Backoff } from "./backoff.ts";
import type { Broker } from "./broker/broker.ts";
import type { ChainedEvent, Verdict } from "./channels/cursor.ts";
import type { StreamEpoch } from "./channels/stream-epoch.ts";
import { StreamMissingError, type NotificationStore, type StoredEntry } from "./notification-store.ts";
import type { Rejections } from "./rejections.ts";
import type { GatewaySocket, NotificationsData } from "./socket-data.ts";

type NotifSocket = GatewaySocket & { data: NotificationsData };

/** A live notification as the cursor judges it (parsed once per NATS message, shared by the user's sockets). */
export interface LiveEvent extends ChainedEvent {
  n: LiveNotification;
  /** Its size on the wire (what holding it costs). */
  bytes: number;
  /** The frame, serialized on first use (once per message, whatever the number of sockets). */
  frame?: string;
}

/** Live events held per socket while it reads from the store (count and payload bytes). */
export const HELD_LIMITS = { maxEvents: 64, maxBytes: 256 * 1024 };
/** Largest live event accepted from NATS (the notifier's request limit plus the envelope). */
const MAX_LIVE_BYTES = 320 * 1024;
/** A notification read from the store gets a delivery receipt when stored this recently (the longest a sender waits). */
const RECEIPT_WINDOW_MS = 30_000;
/** Read failures are logged at most once per this many ms, with how many were not. */
const LOG_EVERY_MS = 5000;

/**
 * Per-user notification delivery with resume. Each socket has a StreamCursor on its user's
 * inbox; live events come from the user's live subject (held while the user has a socket here),
 * and the store is read when the cursor says so: at open, after a gap, after every reconnect and
 * when the inbox's epoch changes.
 *
 * Where a socket starts: with `?since=s` after s (from 0 when `&epoch=` names another epoch);
 * without, after the user's last notification stored before the socket opened (the server's store
 * time against this gateway's clock), so what is stored from the moment it opened reaches it even
 * when the gateway was cut off then. Each socket has one sync task at a time; a failed read is
 * retried with backoff and jitter, and a missing stream parks every socket until it is back.
 */
export class Notifications {
  private readonly users = new Map<string, Set<NotifSocket>>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  /** Sockets waiting for the stream to exist again. */
  private readonly parked = new Set<NotifSocket>();
  private failures = { count: 0, at: 0 };

  constructor(
    private readonly broker: Broker,
    private readonly store: NotificationStore,
    private readonly epoch: StreamEpoch,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Unsent output a socket may hold (BACKPRESSURE_LIMIT_BYTES); a replay pauses at half of it. */
    private readonly limitBytes: number,
  ) {
    broker.onUp(() => this.resumeAll());
    epoch.onChange((e) => this.epochChanged(e));
  }

  /** A socket opened: hold the user's live subject first, then place the cursor. */
  open(ws: NotifSocket): void {
    const { userId } = ws.data;
    let sockets = this.users.get(userId);
    if (!sockets) {
      sockets = new Set();
      this.users.set(userId, sockets);
      this.broker.acquire(userLiveSubject(userId), (msg) => this.onLive(userId, msg));
    }
    sockets.add(ws);
    void this.sync(ws);
  }

  /** A socket closed. */
  close(ws: NotifSocket): void {
    const d = ws.data;
    d.cursor.close();
    clearTimeout(d.sync.retry);
    this.parked.delete(ws);
    this.drain(ws);
    const sockets = this.users.get(d.userId);
    if (!sockets) return;
    sockets.delete(ws);
    if (sockets.size === 0) {
      this.users.delete(d.userId);
      this.broker.release(userLiveSubject(d.userId));
    }
  }

  /** Bun's drain event: the socket's output shrank, so a paused replay may go on. */
  drain(ws: NotifSocket): void {
    const wake = ws.data.sync.onDrain;
    ws.data.sync.onDrain = undefined;
    wake?.();
  }

  /** Users with at least one socket here. */
  get userCount(): number {
    return this.users.size;
  }

  /** After a (re)connect: every socket reads what it may have missed (positions it, when not yet). */
  private resumeAll(): void {
    for (const sockets of this.users.values()) for (const ws of sockets) void this.sync(ws);
  }

  /** The inbox was created anew (or went missing): cursors of the old life start over at 0 of the new one. */
  private epochChanged(epoch: string | undefined): void {
    if (epoch === undefined) return; // sockets park on their next read
    for (const sockets of this.users.values()) {
      for (const ws of sockets) {
        const c = ws.data.cursor;
        if (c.state !== "positioning" && c.epoch !== epoch) c.position(epoch, 0);
        void this.sync(ws);
      }
    }
    this.parked.clear();
  }

  /** Runs the socket's sync task, or asks the running one to go round again. */
  private async sync(ws: NotifSocket): Promise<void> {
    const s = ws.data.sync;
    if (ws.data.cursor.state === "closed") return;
    if (s.running) {
      s.again = true;
      return;
    }
    s.running = true;
    clearTimeout(s.retry);
    let failure: { err: unknown } | undefined;
    try {
      do {
        s.again = false;
        await this.syncOnce(ws);
      } while (s.again && !ws.data.cursor.closed);
      s.backoff.reset();
    } catch (err) {
      failure = { err };
    } finally {
      s.running = false;
    }
    if (!failure) return;
    if (s.again) void this.sync(ws); // asked again meanwhile (a reconnect): go at once
    else this.readFailed(ws, failure.err);
  }

  /** Positions the cursor if needed, then reads the store after it until the end and goes live. */
  private async syncOnce(ws: NotifSocket): Promise<void> {
    const d = ws.data;
    const c = d.cursor;
    if (!this.broker.connected()) return; // onUp resumes
    if (c.state === "positioning") {
      const epoch = this.epoch.current;
      if (epoch === undefined) return this.park(ws);
      const start = await this.startPosition(d, epoch);
      if (c.state !== "positioning") return; // closed, or placed by an epoch change meanwhile
      c.position(epoch, start.seq);
      if (start.newest) this.goLive(ws); // what is stored after the read arrives live
    } else if (c.state === "live") c.replay(); // a reconnect: read what the outage may have hidden
    while (c.state === "replaying") {
      const generation = c.generation;
      const entry = await this.store.next(d.userId, c.last + 1);
      if (c.generation !== generation) continue; // repositioned meanwhile: read from the new place
      if (c.state !== "replaying") return;
      if (!entry) {
        this.goLive(ws);
        continue;
      }
      if (!this.write(ws, notificationFrame(entry.notification, entry.seq, c.epoch!))) return;
      c.wrote(entry.seq);
      if (entry.at > Date.now() - RECEIPT_WINDOW_MS) this.broker.publish(deliveredSubject(entry.notification.id), "");
      // Flow control: a long replay goes at the client's pace instead of piling up in memory.
      if (ws.getBufferedAmount() > this.limitBytes / 2) await new Promise<void>((resolve) => (d.sync.onDrain = resolve));
    }
  }

  /** Where a socket's cursor starts: after `since`, or after the last notification stored before it opened. */
  private async startPosition(d: NotificationsData, epoch: string): Promise<{ seq: number; newest: boolean }> {
    if (d.since !== undefined) return { seq: d.sinceEpoch === undefined || d.sinceEpoch === epoch ? d.since : 0, newest: false };
    let e: StoredEntry | undefined = await this.store.last(d.userId);
    if (!e) return { seq: 0, newest: true };
    let newest = true;
    // Walk the user's chain back past what was stored after the socket opened (usually nothing).
    while (e && e.at >= d.openedAt) {
      newest = false;
      const prev: number = e.notification.prev_seq;
      if (prev === 0) return { seq: 0, newest };
      e = await this.store.at(d.userId, prev);
      if (!e) return { seq: prev, newest }; // trimmed: nothing older is left either
    }
    return { seq: e.seq, newest };
  }

  /** The store has nothing more: judge the held events and go live (or read again when they overflowed). */
  private goLive(ws: NotifSocket): void {
    const c = ws.data.cursor;
    const held = c.endReplay();
    if (!held) return; // overflowed: still replaying, the loop reads again
    for (const e of held) {
      this.offer(ws, e);
      if (c.state !== "live") return; // a gap: back to reading (the rest are in the store too)
    }
  }

  /** Waits for the stream: the socket syncs again once its epoch is known (at once if it already is). */
  private park(ws: NotifSocket): void {
    this.parked.add(ws);
    void this.epoch.refresh().then(() => {
      if (this.epoch.current === undefined) return; // epochChanged wakes them when it is back
      const parked = [...this.parked];
      this.parked.clear();
      for (const p of parked) void this.sync(p);
    });
  }

  /** A read failed: park on a missing stream, else retry this socket with backoff and jitter. */
  private readFailed(ws: NotifSocket, err: unknown): void {
    if (ws.data.cursor.state === "closed") return;
    if (err instanceof StreamMissingError) {
      this.countFailure(err);
      this.park(ws);
      return;
    }
    this.countFailure(err);
    const s = ws.data.sync;
    clearTimeout(s.retry);
    s.retry = setTimeout(() => void this.sync(ws), s.backoff.next());
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
    const sockets = this.users.get(userId);
    if (!sockets) return;
    const e: LiveEvent = { seq: n.seq, prev: n.prev_seq, epoch: n.epoch, n, bytes: msg.data.byteLength };
    let delivered = false;
    for (const ws of sockets) delivered = this.offer(ws, e) || delivered;
    if (delivered) this.broker.publish(deliveredSubject(n.id), "");
  }

  /** Applies the cursor's verdict to one live event; true when it was written to the socket. */
  private offer(ws: NotifSocket, e: LiveEvent): boolean {
    const c = ws.data.cursor;
    const verdict: Verdict = c.judge(e);
    switch (verdict) {
      case "write": {
        e.frame ??= notificationFrame(e.n, e.seq, c.epoch!);
        if (!this.write(ws, e.frame)) return false;
        c.wrote(e.seq);
        return true;
      }
      case "hold":
        c.hold(e, e.bytes);
        return false;
      case "gap":
        c.hold(e, e.bytes);
        c.replay();
        void this.sync(ws);
        return false;
      case "epoch":
        // Our epoch is stale when the event names the current one; an epoch we do not know makes us look.
        if (e.epoch !== undefined && e.epoch === this.epoch.current) {
          c.position(e.epoch, 0);
          void this.sync(ws);
        } else void this.epoch.refresh();
        return false;
      case "skip":
        return false;
    }
  }

  /** Writes a frame; a socket that cannot take it is closed with 1013 (it resumes with `since`), never skipped. */
  private write(ws: NotifSocket, text: string): boolean {
    const sent = ws.getBufferedAmount() + text.length > this.limitBytes ? 0 : ws.send(text);
    if (sent === 0) {
      ws.data.cursor.close();
      ws.close(CloseCode.TryAgainLater, "slow consumer");
      return false;
    }
    return true;
  }

  private parseLive(msg: Msg): LiveNotification | undefined {
    if (msg.data.byteLength > MAX_LIVE_BYTES) return undefined;
    try {
      const value: unknown = JSON.parse(this.decoder.decode(msg.data));
      return liveNotification.check(value) && depthWithin(value.data) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  /** New per-socket sync state. */
  static syncState(): NotificationsData["sync"] {
    return { running: false, again: false, retry: undefined, onDrain: undefined, backoff: new Backoff(250, 5000) };
  }
}
