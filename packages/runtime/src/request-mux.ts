import { randomBytes } from "node:crypto";
import { errors, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

interface Pending {
  subject: string;
  resolve: (msg: Msg) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Requests answered under a reply prefix of the caller's choosing (nats.js' own `request` always
 * answers under the connection's inbox prefix): `<prefix><random>.<n>`, all through one wildcard
 * subscription. Rejects as nats.js does: NoRespondersError at once when nobody subscribes to the
 * subject, TimeoutError after `timeoutMs`.
 */
export class RequestMux {
  private readonly base: string;
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private next = 0;

  /** `prefix` ends with `.` (`REPLY_PREFIX` in @rt/protocol); the connection's user must be allowed to subscribe under it. */
  constructor(private readonly nc: NatsConnection, prefix: string) {
    this.base = `${prefix}${randomBytes(12).toString("base64url")}.`;
    this.sub = nc.subscribe(`${this.base}*`, { callback: (err, msg) => { if (!err) this.onAnswer(msg); } });
  }

  /** Publishes `payload` on `subject` and resolves with the first answer. */
  request(subject: string, payload: string | Uint8Array, timeoutMs: number): Promise<Msg> {
    const id = ++this.next;
    const { promise, resolve, reject } = Promise.withResolvers<Msg>();
    const timer = setTimeout(() => {
      this.pending.delete(id);
      reject(new errors.TimeoutError());
    }, timeoutMs);
    this.pending.set(id, { subject, resolve, reject, timer });
    try {
      this.nc.publish(subject, payload, { reply: `${this.base}${id}` });
    } catch (err) {
      clearTimeout(timer);
      this.pending.delete(id);
      reject(err as Error);
    }
    return promise;
  }

  /** Stops listening; pending requests end with their timeouts. */
  close(): void {
    this.sub.unsubscribe();
  }

  private onAnswer(msg: Msg): void {
    const id = Number(msg.subject.slice(this.base.length));
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (msg.data.byteLength === 0 && msg.headers?.code === 503) p.reject(new errors.NoRespondersError(p.subject));
    else p.resolve(msg);
  }
}
