import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { Backoff } from "../backoff.ts";
import type { Broker } from "./broker.ts";
import type { Outbox, OutboxEntry } from "./outbox.ts";

/** Headers that number a gateway's publishes: who sent it, and its place in that sender's order. */
export const ORIGIN_HEADER = "Rt-Origin";
export const ORIGIN_SEQ_HEADER = "Rt-Seq";
/** An entry not confirmed this long after it was sent is sent again, asking for an ack (it or its confirmation was lost). */
const ACK_TIMEOUT_MS = 3000;
/** The stream's answer to a message over its `max_msg_size` (JSStreamMessageExceedsMaximumErr): permanent. */
const MESSAGE_TOO_LARGE = '"err_code":10054';
const encoder = new TextEncoder();
const ackDecoder = new TextDecoder();

/** Publishes into a stream that must get there, in order, even across a cut link (`publish`). */
export interface StreamPublishing {
  /** This gateway's origin id (in the `Rt-Origin` header of everything it publishes). */
  readonly origin: string;
  /** Queues a publish: sent with the next batch, and again until the stream confirms it. */
  publish(subject: string, payload: string): void;
  /** The stream republished this gateway's publish numbered `seq` (its `Rt-Seq` header): that confirms it. Returns its payload when it was waiting. */
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
 * after a reconnect the unconfirmed rest is sent again before anything new. So what a member sends
 * while this gateway is cut off is stored, once, when the link is back. A publish the stream
 * refuses for good (over its `max_msg_size`) leaves the outbox, counted, and holds nothing up.
 */
export class StreamPublisher implements StreamPublishing {
  readonly origin = randomBytes(9).toString("base64url");
  private scheduled = false;
  private paused = false;
  private readonly backoff = new Backoff(100, 2000);
  private readonly ackPrefix: string;
  private readonly headerPrefix: string;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly broker: Broker, private readonly outbox: Outbox, private readonly events: StreamPublisherEvents) {
    this.ackPrefix = `${broker.inboxPrefix}.ack.`;
    this.headerPrefix = `NATS/1.0\r\n${ORIGIN_HEADER}: ${this.origin}\r\nNats-Msg-Id: ${this.origin}:`;
    broker.acquire(`${this.ackPrefix}*`, (msg) => this.onAck(msg));
    broker.onUp(() => {
      this.outbox.rewind();
      this.paused = false;
      this.schedule();
    });
  }

  /** Starts the check for confirmations that never came. */
  start(): void {
    this.timer = setInterval(() => this.checkLost(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  publish(subject: string, payload: string): void {
    this.outbox.push(subject, payload);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.paused || !this.broker.connected()) return;
    this.scheduled = true;
    setImmediate(this.send);
  }

  private readonly send = (): void => {
    this.scheduled = false;
    if (this.paused || !this.broker.connected()) return; // sent after the reconnect
    for (const e of this.outbox.takeUnsent()) {
      try {
        const reply = e.attempts > 1 ? `${this.ackPrefix}${e.seq}` : undefined;
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
    const e = this.outbox.ackOne(n);
    this.stored(e);
    this.backoff.reset();
    return e?.payload;
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
    if (!ok && body.includes(MESSAGE_TOO_LARGE)) return void this.outbox.refuse(seq);
    if (!ok) return this.failed();
    if (duplicate) this.events.onRepeat();
    this.stored(this.outbox.ackOne(seq));
    this.backoff.reset();
  }

  private stored(e: OutboxEntry | undefined): void {
    if (e !== undefined) this.events.onStored(Date.now() - e.at, e.subject);
  }

  /** A publish was refused (no leader, no stream): send everything unconfirmed again after a pause. */
  private failed(): void {
    if (this.paused) return;
    this.paused = true;
    setTimeout(() => {
      this.paused = false;
      this.outbox.rewind();
      this.schedule();
    }, this.backoff.next());
  }

  private checkLost(): void {
    const oldest = this.outbox.oldestSentAt;
    if (oldest > 0 && Date.now() - oldest > ACK_TIMEOUT_MS && this.broker.connected()) this.failed();
  }
}
