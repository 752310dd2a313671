import { randomBytes } from "node:crypto";
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node";

/** How long a stream's ack is waited for. */
const ACK_TIMEOUT_MS = 5000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The stream's answer to one publish. */
export type StreamAck = { seq: number; duplicate: boolean };

/** A publish the stream did not take: no stream there (`no-stream`), an error it answered, or no answer in time. */
export class PublishFailedError extends Error {
  constructor(readonly reason: "no-stream" | "refused" | "timeout", message: string) {
    super(message);
  }
}

interface Pending {
  resolve: (ack: StreamAck) => void;
  reject: (err: Error) => void;
  at: number;
}

interface Queued extends Pending {
  subject: string;
  payload: string;
  msgId: string | undefined;
}

/**
 * JetStream publishes without the client's request machinery: each is a core publish with a reply
 * subject under one wildcard subscription, and the stream's ack to it resolves that one call. The
 * publishes of one event-loop turn go out together, in one socket write: concurrent HTTP requests
 * share it (a write per request was a quarter of the notifier's CPU). Acks are read as text (a JSON
 * parse each was measurable); late ones are failed by a sweep every second, not a timer each.
 */
export class AckedPublisher {
  private readonly prefix: string;
  private readonly pending = new Map<number, Pending>();
  private queue: Queued[] = [];
  private next = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  /** `inboxPrefix`: the connection's (`_INBOX_notifier` for the notifier): acks arrive on `<inboxPrefix>.<random>.<n>`, where its NATS user may subscribe. */
  constructor(private readonly nc: NatsConnection, inboxPrefix = "_INBOX") {
    this.prefix = `${inboxPrefix}.${randomBytes(12).toString("base64url")}.`;
    nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => { if (!err) this.onAck(msg); } });
    this.timer = setInterval(() => this.sweep(), 1000);
  }

  /** Stores `payload` on `subject` (with `Nats-Msg-Id: msgId` when given: a repeat within the stream's window stores nothing). */
  publish(subject: string, payload: string, msgId?: string): Promise<StreamAck> {
    const { promise, resolve, reject } = Promise.withResolvers<StreamAck>();
    if (this.queue.length === 0) setImmediate(this.flush);
    this.queue.push({ subject, payload, msgId, resolve, reject, at: Date.now() });
    return promise;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private readonly flush = (): void => {
    const batch = this.queue;
    this.queue = [];
    for (const q of batch) {
      const id = ++this.next;
      this.pending.set(id, q);
      try {
        this.nc.publish(q.subject, q.payload, { reply: `${this.prefix}${id}`, ...(q.msgId ? { headers: msgIdHeader(q.msgId) } : {}) });
      } catch (err) {
        this.pending.delete(id);
        q.reject(err as Error);
      }
    }
  };

  /** `{"stream","seq"[,"duplicate":true]}`, `{"error":{…}}`, or an empty 503 (no responders: no stream there). */
  private onAck(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length));
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const text = msg.data.byteLength > 0 && msg.data.byteLength < 4096 ? decoder.decode(msg.data) : "";
    const seq = /"seq":\s*(\d+)/.exec(text);
    if (seq && !text.includes('"error"')) return p.resolve({ seq: Number(seq[1]), duplicate: /"duplicate":\s*true/.test(text) });
    if (text === "" && msg.headers?.code === 503) return p.reject(new PublishFailedError("no-stream", "no stream stores this subject"));
    p.reject(new PublishFailedError("refused", text || "the stream refused the publish"));
  }

  private sweep(): void {
    const cutoff = Date.now() - ACK_TIMEOUT_MS;
    for (const [id, p] of this.pending) {
      if (p.at >= cutoff) break; // in publish order: the rest are newer
      this.pending.delete(id);
      p.reject(new PublishFailedError("timeout", "the stream did not answer in time"));
    }
  }
}

/** A header block with `Nats-Msg-Id`, encoded by hand (a MsgHdrs per message costs ten times more). */
function msgIdHeader(msgId: string): MsgHdrs {
  const bytes = encoder.encode(`NATS/1.0\r\nNats-Msg-Id: ${msgId}\r\n\r\n`);
  return { encode: () => bytes } as unknown as MsgHdrs;
}
