import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { CloseCode, deliveredSubject, depthWithin, liveNotification, notificationFrame, userLiveSubject, type LiveNotification } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Interest } from "./interest.ts";
import type { NotificationStore } from "./notification-store.ts";
import type { Rejections } from "./rejections.ts";
import type { GatewaySocket, NotificationsData } from "./socket-data.ts";

type NotifSocket = GatewaySocket & { data: NotificationsData };

/** Live events held per socket while it reads from the store (count and payload bytes); past either, it reads the store again instead. */
const MAX_PENDING = 64;
const MAX_PENDING_BYTES = 256 * 1024;
/** Pause before reading the store again after a failed read. */
const RETRY_MS = 500;
/** Largest live event accepted from NATS (the notifier's request limit plus the envelope). */
const MAX_LIVE_BYTES = 320 * 1024;

/**
 * Per-user notification delivery with resume.
 *
 * Each socket has a cursor (`lastSeq`, the last seq written to it). Live events come from the
 * user's live subject, subscribed while the user has a socket here; each event carries its seq
 * and the seq of the user's previous notification (`prev_seq`). An event is written when
 * `prev_seq <= lastSeq < seq`, i.e. nothing of the user's lies between the cursor and it;
 * an event at or below the cursor is a duplicate and skipped; anything else is a gap and the
 * socket reads the store from `lastSeq + 1` (as it does for `?since=` and after a NATS
 * reconnect). Live events that arrive during a read are queued and judged by the same rule
 * afterwards, so the hand-over from replay to live has neither duplicate nor gap.
 */
export class Notifications {
  private readonly users = new Map<string, Set<NotifSocket>>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  constructor(
    private readonly nc: NatsConnection,
    private readonly interest: Interest,
    private readonly store: NotificationStore,
    private readonly isConnected: () => boolean,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Unsent output a socket may hold (BACKPRESSURE_LIMIT_BYTES); a replay pauses at half of it. */
    private readonly limitBytes: number,
  ) {}

  /** Bun's drain event: the socket's output shrank, so a paused replay may go on. */
  drain(ws: NotifSocket): void {
    const wake = ws.data.cursor.onDrain;
    ws.data.cursor.onDrain = undefined;
    wake?.();
  }

  /** A socket opened: subscribe to the user's live events first, then position the cursor. */
  open(ws: NotifSocket): void {
    const { userId } = ws.data;
    let sockets = this.users.get(userId);
    if (!sockets) {
      sockets = new Set();
      this.users.set(userId, sockets);
      this.interest.acquire(userLiveSubject(userId), (msg) => this.onLive(userId, msg));
    }
    sockets.add(ws);
    const c = ws.data.cursor;
    if (ws.data.since !== undefined) {
      c.lastSeq = ws.data.since;
      void this.catchUp(ws);
    } else {
      void this.positionAtEnd(ws);
    }
  }

  /** A socket closed. */
  close(ws: NotifSocket): void {
    ws.data.cursor.closed = true;
    this.drain(ws);
    const sockets = this.users.get(ws.data.userId);
    if (!sockets) return;
    sockets.delete(ws);
    if (sockets.size === 0) {
      this.users.delete(ws.data.userId);
      this.interest.release(userLiveSubject(ws.data.userId));
    }
  }

  /** After a NATS reconnect: every socket reads what it may have missed. */
  resumeAll(): void {
    for (const sockets of this.users.values()) for (const ws of sockets) this.resume(ws);
  }

  /** Reads what a socket may have missed: from its cursor, or from the end when it has none yet. */
  private resume(ws: NotifSocket): void {
    if (ws.data.cursor.lastSeq === undefined) void this.positionAtEnd(ws);
    else void this.catchUp(ws);
  }

  /** Users with at least one socket here. */
  get userCount(): number {
    return this.users.size;
  }

  /** Live-only socket: start after the user's newest stored notification. */
  private async positionAtEnd(ws: NotifSocket): Promise<void> {
    const c = ws.data.cursor;
    if (c.catchingUp) return;
    c.catchingUp = true;
    try {
      if (!this.isConnected()) return; // resumeAll() positions it after the reconnect
      const last = await this.store.lastSeq(ws.data.userId);
      // Live events that arrived while asking were received live: start just before the first of them.
      const first = c.pending[0];
      c.lastSeq = first ? Math.min(last, first.event.prev_seq) : last;
    } catch (err) {
      this.log.warn({ err: String(err) }, "notifications: reading the last seq failed; retrying");
      this.retrySoon(ws);
      return;
    } finally {
      c.catchingUp = false;
    }
    this.drainPending(ws);
  }

  /** Writes every stored notification after the cursor, then the queued live events. */
  private async catchUp(ws: NotifSocket): Promise<void> {
    const c = ws.data.cursor;
    if (c.catchingUp || c.closed) return;
    c.catchingUp = true;
    try {
      do {
        c.overflowed = false;
        if (!this.isConnected()) return; // resumeAll() continues after the reconnect
        for (;;) {
          const entry = await this.store.next(ws.data.userId, (c.lastSeq ?? 0) + 1);
          if (!entry || c.closed) break;
          if (!this.write(ws, notificationFrame(entry.notification, entry.seq))) return;
          c.lastSeq = entry.seq;
          // Flow control: a long replay goes at the client's pace instead of piling up in memory.
          if (ws.getBufferedAmount() > this.limitBytes / 2) await new Promise<void>((resolve) => (c.onDrain = resolve));
        }
      } while (c.overflowed && !c.closed);
    } catch (err) {
      this.log.warn({ err: String(err) }, "notifications: reading the store failed; retrying");
      this.retrySoon(ws);
      return;
    } finally {
      c.catchingUp = false;
    }
    this.drainPending(ws);
  }

  /** After a failed read (a timeout, JetStream busy): try again shortly, or after the reconnect if NATS is gone. */
  private retrySoon(ws: NotifSocket): void {
    setTimeout(() => {
      if (ws.data.cursor.closed || !this.isConnected()) return; // resumeAll() takes over after a reconnect
      this.resume(ws);
    }, RETRY_MS);
  }

  private drainPending(ws: NotifSocket): void {
    const c = ws.data.cursor;
    const pending = c.pending;
    c.pending = [];
    c.pendingBytes = 0;
    for (const p of pending) {
      if (c.closed || c.catchingUp) return;
      this.offer(ws, p.event, p.bytes, undefined);
    }
  }

  private onLive(userId: string, msg: Msg): void {
    const event = this.parseLive(msg);
    const bytes = msg.data.byteLength;
    if (!event || event.user_id !== userId) {
      this.rejections.count("nats_notification_payload", this.log, { subject: msg.subject });
      return;
    }
    const sockets = this.users.get(userId);
    if (!sockets) return;
    const frame = { text: undefined as string | undefined };
    let delivered = false;
    for (const ws of sockets) delivered = this.offer(ws, event, bytes, frame) || delivered;
    if (delivered) this.nc.publish(deliveredSubject(event.id));
  }

  /** Applies the cursor rule to one live event; true when it was written to the socket. */
  private offer(ws: NotifSocket, e: LiveNotification, bytes: number, frame: { text: string | undefined } | undefined): boolean {
    const c = ws.data.cursor;
    if (c.closed) return false;
    if (c.catchingUp || c.lastSeq === undefined) {
      this.hold(ws, e, bytes);
      return false;
    }
    if (e.seq <= c.lastSeq) return false; // already written
    if (e.prev_seq > c.lastSeq) {
      this.hold(ws, e, bytes);
      void this.catchUp(ws); // a gap: read it from the store
      return false;
    }
    const text = frame ? (frame.text ??= notificationFrame(e, e.seq)) : notificationFrame(e, e.seq);
    if (!this.write(ws, text)) return false;
    c.lastSeq = e.seq;
    return true;
  }

  /** Queues a live event for after the current read; when the queue is full, notes that the read must go on instead. */
  private hold(ws: NotifSocket, event: LiveNotification, bytes: number): void {
    const c = ws.data.cursor;
    if (c.pending.length >= MAX_PENDING || c.pendingBytes + bytes > MAX_PENDING_BYTES) {
      c.overflowed = true;
      return;
    }
    c.pending.push({ event, bytes });
    c.pendingBytes += bytes;
  }

  /** Writes a frame; a socket that cannot take it is closed with 1013 (it resumes with `since`), never skipped. */
  private write(ws: NotifSocket, text: string): boolean {
    const sent = ws.getBufferedAmount() + text.length > this.limitBytes ? 0 : ws.send(text);
    if (sent === 0) {
      ws.data.cursor.closed = true;
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
}
