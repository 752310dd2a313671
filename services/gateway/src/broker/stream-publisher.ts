import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { STREAM_LEADER_ELECTED_WILDCARD } from "@rt/protocol";
import { Backoff } from "../backoff.ts";
import type { Broker } from "./broker.ts";
import { settle, type Outbox, type OutboxEntry, type Stored } from "./outbox.ts";

/** Headers that number a gateway's publishes: who sent it, and its place in that sender's order. */
export const ORIGIN_HEADER = "Rt-Origin";
export const ORIGIN_SEQ_HEADER = "Rt-Seq";
/** JetStream's per-publish id (the stream stores a repeat within its duplicate window once): `<origin>:<seq>` here. */
export const MSG_ID_HEADER = "Nats-Msg-Id";
/** An entry not confirmed this long after it was sent is sent again, asking for an ack (it or its confirmation was lost). */
const ACK_TIMEOUT_MS = 3000;
/**
 * How long a caller that asked (`publish`'s `stored`) waits for its publish to be stored before it
 * is told false: under the SDK's 5 s publish timeout, over the 2-4 s a lost stream leader takes to
 * be replaced (the publish stays queued and may still be stored after).
 */
export const STORED_WAIT_MS = 4000;
/**
 * A publish unconfirmed this long holds back the first sends of newer ones (the stream may have no
 * leader: what it missed is sent again before anything newer is stored). Above a confirmation's
 * usual latency, below the 2-9 s nats-server takes to elect a new leader.
 */
const HOLD_MS = 1000;
/**
 * After a reconnect, what waits is sent again this much later: long enough for the channels' reads
 * of what was stored meanwhile (they confirm this gateway's own, whose copies the cut lost), so a
 * publish stored just before the cut is not sent again (nats-server 2.9 may store such a repeat
 * twice, on a replica that caught up after a restart, and the replicas then number the stream apart).
 */
const RECONNECT_GRACE_MS = 1000;
/** How often waits past STORED_WAIT_MS and lost confirmations are looked for. */
const CHECK_EVERY_MS = 250;
/** The stream's answer to a message over its `max_msg_size` (JSStreamMessageExceedsMaximumErr): permanent. */
const MESSAGE_TOO_LARGE = '"err_code":10054';
const encoder = new TextEncoder();
const ackDecoder = new TextDecoder();

/** Publishes into a stream that must get there, in order, even across a cut link (`publish`). */
export interface StreamPublishing {
  /** This gateway's origin id (in the `Rt-Origin` header of everything it publishes). */
  readonly origin: string;
  /**
   * Queues a publish: sent with the next batch, and again until the stream confirms it. `stored`,
   * when given, is told once: true when the stream has stored it, false when it was dropped
   * unconfirmed or not confirmed within STORED_WAIT_MS.
   */
  publish(subject: string, payload: string, stored?: Stored): void;
  /** The stream stored this gateway's publish numbered `seq` (its `Rt-Seq` header, on its republished copy or read back): that confirms it, sent on this connection or not. Returns its payload when it was waiting. */
  confirmed(seq: string | undefined): string | undefined;
}

/** What the publisher reports. */
export interface StreamPublisherEvents {
  /** A publish the stream had stored already (a repeat after a reconnect or a lost confirmation). */
  onRepeat(): void;
  /** A publish call that threw. */
  onError(err: unknown): void;
  /** The stream confirmed a publish on `subject` `ms` after it was queued. */
  onStored(ms: number, subject: string): void;
}

/**
 * Sends an Outbox's publishes to a JetStream stream, one event-loop turn as one socket write.
 * Each is a core publish with headers `Nats-Msg-Id` (origin:seq, so the stream stores a repeat
 * once), `Rt-Origin` and `Rt-Seq`. The first send asks for no ack: the stream's republished copy,
 * which this gateway receives anyway (it serves the room), carries `Rt-Seq` and confirms it
 * (`confirmed`), saving one NATS message per publication. A publish sent again (after a reconnect,
 * a refusal, or no confirmation within 3 s) carries a reply subject: the stream's ack confirms it,
 * also when it was a repeat the stream had stored already (and did not republish). A failed ack
 * (no stream leader, no stream) or no confirmation in time rewinds the outbox after a backoff;
 * after a reconnect the unconfirmed rest is sent again before anything new (after RECONNECT_GRACE_MS:
 * those the channels read back meanwhile are confirmed, not sent again). So what a member sends
 * while this gateway is cut off is stored, once, when the link is back.
 *
 * In order, also when the stream loses its leader: publishes sent while it has none are lost, and
 * one sent once it has a new one would be stored before them. So a publish unconfirmed for HOLD_MS
 * holds back the first send of anything newer, and whatever is sent again (after a reconnect, a
 * refusal, a lost confirmation) starts with the oldest alone (a probe, asking for an ack): the rest
 * follows once the stream has stored it; when JetStream announces a new stream leader, at once
 * (`LEADER_ELECTED`: no wait for the backoff or the ack timeout). A publish the stream
 * refuses for good (over its `max_msg_size`) leaves the outbox, counted, and holds nothing up.
 */
export class StreamPublisher implements StreamPublishing {
  readonly origin = randomBytes(9).toString("base64url");
  private scheduled = false;
  private paused = false;
  /** Sending again from the oldest unconfirmed: it goes alone, the rest once it is stored. */
  private probing = true;
  /** First sends were held back by an old unconfirmed publish (a confirmation resumes them). */
  private held = false;
  private readonly backoff = new Backoff(100, 2000);
  private readonly ackPrefix: string;
  private readonly headerPrefix: string;
  private timer: ReturnType<typeof setInterval> | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** Entries whose caller waits to hear they were stored, oldest first (confirmed ones are skipped when expiring). */
  private waiting: OutboxEntry[] = [];
  private waitingHead = 0;

  constructor(
    private readonly broker: Broker,
    private readonly outbox: Outbox,
    private readonly events: StreamPublisherEvents,
    /** HOLD_MS, unless a test says (0: nothing newer is sent before the older ones are stored). */
    private readonly holdMs = HOLD_MS,
  ) {
    this.ackPrefix = `${broker.inboxPrefix}.ack.`;
    this.headerPrefix = `NATS/1.0\r\n${ORIGIN_HEADER}: ${this.origin}\r\nNats-Msg-Id: ${this.origin}:`;
    broker.acquire(`${this.ackPrefix}*`, (msg) => this.onAck(msg));
    broker.onUp(() => this.reconnected());
    broker.acquire(STREAM_LEADER_ELECTED_WILDCARD, () => this.leaderElected());
  }

  /** Starts the check for confirmations that never came. */
  start(): void {
    this.timer = setInterval(() => {
      this.checkLost();
      this.expireWaits();
      if (this.outbox.pending) this.schedule();
    }, CHECK_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.retry);
  }

  publish(subject: string, payload: string, stored?: Stored): void {
    const e = this.outbox.push(subject, payload, stored);
    if (stored !== undefined) this.waiting.push(e);
    this.schedule();
  }

  /** Callers waiting longer than STORED_WAIT_MS are told false (their publishes stay queued). */
  private expireWaits(): void {
    const cutoff = Date.now() - STORED_WAIT_MS;
    const w = this.waiting;
    while (this.waitingHead < w.length && w[this.waitingHead]!.at <= cutoff) settle(w[this.waitingHead++]!, false);
    while (this.waitingHead < w.length && w[this.waitingHead]!.done === undefined) this.waitingHead++;
    if (this.waitingHead === w.length) {
      this.waiting = [];
      this.waitingHead = 0;
    } else if (this.waitingHead > 1024 && this.waitingHead * 2 > w.length) {
      this.waiting = w.slice(this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.paused || !this.broker.connected()) return;
    this.scheduled = true;
    setImmediate(this.send);
  }

  private readonly send = (): void => {
    this.scheduled = false;
    if (this.paused || !this.broker.connected()) return; // sent after the reconnect
    if (this.probing && this.outbox.oldestSentAt > 0) return; // the probe is out: the rest waits for it
    const oldest = this.outbox.oldestSentAt;
    if (!this.probing && oldest > 0 && Date.now() - oldest > this.holdMs) {
      this.held = true; // newer ones wait: a confirmation resumes them, or checkLost sends again
      return;
    }
    for (const e of this.outbox.takeUnsent(this.probing ? 1 : Infinity)) {
      try {
        const reply = e.attempts > 1 || this.probing ? `${this.ackPrefix}${e.seq}` : undefined;
        if (!this.broker.publish(e.subject, e.payload, this.numbered(e.seq), reply)) break; // the link dropped: onUp rewinds
      } catch (err) {
        this.events.onError(err);
      }
    }
  };

  /**
   * The headers of publish `seq`, encoded by hand: the client only calls `encode()` on what it is
   * given, and building a MsgHdrs per message cost 3.3 us (ten times this).
   */
  private numbered(seq: number): MsgHdrs {
    const bytes = encoder.encode(`${this.headerPrefix}${seq}\r\n${ORIGIN_SEQ_HEADER}: ${seq}\r\n\r\n`);
    return { encode: () => bytes } as unknown as MsgHdrs;
  }

  confirmed(seq: string | undefined): string | undefined {
    const n = Number(seq);
    if (!Number.isSafeInteger(n) || n < 1) return undefined;
    const e = this.outbox.confirmStored(n);
    this.stored(e);
    this.backoff.reset();
    if (this.probing || this.held) this.resume();
    return e?.payload;
  }

  /** After a confirmation: a probe that was stored lets the rest go; held first sends go once nothing old waits. */
  private resume(): void {
    if (this.outbox.oldestSentAt !== 0) {
      if (this.probing || Date.now() - this.outbox.oldestSentAt > this.holdMs) return;
    }
    this.probing = false;
    this.held = false;
    this.schedule();
  }

  /** The stream's answer to one publish: `{"stream","seq","duplicate"?}`, an `{"error"}`, or a 503 status (no responders). */
  private onAck(msg: Msg): void {
    const seq = Number(msg.subject.slice(this.ackPrefix.length));
    if (!Number.isSafeInteger(seq)) return;
    // `{"stream":"ROOMS", "seq":N[,"duplicate": true]}`, or `{"error":…}`; a 503 status (no responders)
    // comes with an empty body. Read as text: a JSON.parse per publish was a measurable share of the CPU.
    const body = msg.data.byteLength > 0 && msg.data.byteLength < 1024 ? ackDecoder.decode(msg.data) : "";
    const ok = body.includes('"seq"') && !body.includes('"error"');
    const duplicate = body.includes('"duplicate"');
    // Too large for the stream (its limit was lowered below this gateway's, by hand or by a gateway
    // with a smaller MAX_MESSAGE_BYTES): dropped and counted, never sent again; the rest flows on.
    if (!ok && body.includes(MESSAGE_TOO_LARGE)) {
      this.outbox.refuse(seq);
      return this.resume();
    }
    if (!ok) return this.failed();
    if (duplicate) this.events.onRepeat();
    this.stored(this.outbox.ackOne(seq));
    this.backoff.reset();
    if (this.probing || this.held) this.resume();
  }

  private stored(e: OutboxEntry | undefined): void {
    if (e !== undefined) this.events.onStored(Date.now() - e.at, e.subject);
  }

  /** A publish was refused (no leader, no stream): send everything unconfirmed again after a pause. */
  private failed(): void {
    if (this.paused) return;
    this.paused = true;
    this.retry = setTimeout(() => this.resend(), this.backoff.next());
  }

  /**
   * A stream has a new leader (JetStream's advisory): what waits goes again now (the oldest alone
   * first), not after the backoff or the ack timeout: a lost leader's stream has none for the 4-9 s
   * nats-server's election takes, and what was sent meanwhile was refused or lost. Not during a
   * reconnect's grace (its reads confirm what was stored before the cut).
   */
  private leaderElected(): void {
    if (this.outbox.size === 0 || Date.now() < this.graceUntil || !this.broker.connected()) return;
    this.backoff.reset();
    this.resend();
  }
  private graceUntil = 0;

  /** A (re)connect: what waits goes again after RECONNECT_GRACE_MS (at once when nothing waits). */
  private reconnected(): void {
    clearTimeout(this.retry);
    this.graceUntil = Date.now() + RECONNECT_GRACE_MS;
    if (this.outbox.size === 0) return this.resend();
    this.paused = true;
    this.retry = setTimeout(() => this.resend(), RECONNECT_GRACE_MS);
  }

  /** Everything unconfirmed goes again, oldest first: the oldest alone, asking for an ack; the rest once it is stored. */
  private resend(): void {
    clearTimeout(this.retry);
    this.paused = false;
    this.outbox.rewind();
    this.probing = true;
    this.held = false;
    this.schedule();
  }

  private checkLost(): void {
    const oldest = this.outbox.oldestSentAt;
    if (oldest > 0 && Date.now() - oldest > ACK_TIMEOUT_MS && this.broker.connected()) this.failed();
  }
}
