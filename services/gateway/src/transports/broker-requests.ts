import { randomBytes } from "node:crypto";
import type { Msg } from "@nats-io/transport-node";
import type { Broker } from "../broker/broker.ts";

/** Why a request got no answer. */
export type NoAnswer = "no_responders" | "timeout" | "unavailable";

interface Pending {
  resolve: (answer: Msg | NoAnswer) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Requests over the Broker answered under a reply prefix of the caller's choosing
 * (`<prefix><random>.<n>`, one wildcard subscription held for all of them): for requests between
 * gateways whose answers must come under a prefix only gateways may publish to. Resolves with the
 * answer, or why there is none: nobody subscribed to the subject (NATS's no-responders status, at
 * once), no answer within the timeout, or the link down.
 */
export class BrokerRequests {
  private readonly base: string;
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private started = false;

  /** `prefix` ends with `.` (REPLY_PREFIX in @rt/protocol); the gateway's NATS user subscribes under it. */
  constructor(private readonly broker: Broker, prefix: string) {
    this.base = `${prefix}${randomBytes(12).toString("base64url")}.`;
  }

  /** Holds the reply subscription (at once, or at the first connect). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.broker.acquire(`${this.base}*`, (msg) => this.onAnswer(msg));
    if (!this.watching) {
      this.watching = true;
      // The answers of requests in flight cannot come once the link dropped.
      this.broker.onDown(() => {
        for (const [id, p] of this.pending) this.settle(id, p, "unavailable");
      });
    }
  }
  private watching = false;

  /** Lets go of the reply subscription; pending requests end as unavailable. */
  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.broker.release(`${this.base}*`);
    for (const [id, p] of this.pending) this.settle(id, p, "unavailable");
  }

  /** Publishes `payload` on `subject`; resolves with the first answer, or why none came. */
  request(subject: string, payload: string | Uint8Array, timeoutMs: number): Promise<Msg | NoAnswer> {
    const id = ++this.next;
    const { promise, resolve } = Promise.withResolvers<Msg | NoAnswer>();
    const p: Pending = { resolve, timer: setTimeout(() => this.settle(id, p, "timeout"), timeoutMs) };
    this.pending.set(id, p);
    if (!this.started || !this.broker.publish(subject, payload, undefined, `${this.base}${id}`)) this.settle(id, p, "unavailable");
    return promise;
  }

  private onAnswer(msg: Msg): void {
    const id = Number(msg.subject.slice(this.base.length));
    const p = this.pending.get(id);
    if (!p) return;
    this.settle(id, p, msg.data.byteLength === 0 && msg.headers?.code === 503 ? "no_responders" : msg);
  }

  private settle(id: number, p: Pending, answer: Msg | NoAnswer): void {
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(answer);
  }
}
