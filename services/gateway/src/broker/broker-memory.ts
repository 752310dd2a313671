import { randomBytes } from "node:crypto";
import { errors, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { REPLY_PREFIX } from "@rt/protocol";
import { LogLimiter, type Logger } from "@rt/runtime";
import type { Broker } from "./broker.ts";
import { MemoryNats, MemoryStreams, payloadBytes, type MemorySub } from "./memory-nats.ts";

interface Held {
  count: number;
  sub: MemorySub;
}

let connections = 0;

/**
 * The Broker on an in-memory server (MemoryNats), for tests that run channels, presence and the
 * API in one process, fast and in a fixed order. Several MemoryBrokers on one MemoryNats are
 * several gateways. It behaves as NatsBroker does (test/broker-contract.ts runs one suite on
 * both): holds taken before `connect` subscribe at it; `drop` and `restore` cut and give back the
 * link (messages meanwhile are lost, holds survive, `onDown`/`onUp` run) as a reconnect does.
 */
export class MemoryBroker implements Broker {
  readonly inboxPrefix: string;
  /** This connection's id on its MemoryNats. */
  readonly conn = ++connections;
  private readonly held = new Map<string, Held>();
  private readonly ups: Array<() => void> = [];
  private readonly downs: Array<() => void> = [];
  private down = MemoryBroker.signal();
  private up = false;
  private everUp = false;
  private readonly proxyBase: string;
  private readonly gatherBase: string;
  private requests = 0;
  private readonly unexpected = new LogLimiter();
  private readonly streamsApi: MemoryStreams;

  /** `noEcho`: this connection's own core publishes never come back to it (the gateway connects so). */
  constructor(readonly nats: MemoryNats, private readonly log: Logger, private readonly opts: { noEcho?: boolean; inboxPrefix?: string } = {}) {
    const token = randomBytes(12).toString("base64url");
    this.inboxPrefix = `${opts.inboxPrefix ?? "_INBOX"}.${token}`;
    this.proxyBase = `${REPLY_PREFIX.proxy}${token}.`;
    this.gatherBase = `${REPLY_PREFIX.gather}${token}.`;
    this.streamsApi = new MemoryStreams(nats, () => this.up);
  }

  /** A promise rejected later, with a handler so nobody waiting on it is not an error. */
  private static signal(): PromiseWithResolvers<never> {
    const d = Promise.withResolvers<never>();
    d.promise.catch(() => undefined);
    return d;
  }

  /** Connects: subscribes what is held, then runs the `onUp` listeners. */
  async connect(): Promise<void> {
    for (const h of this.held.values()) this.nats.subscribe(h.sub);
    this.everUp = true;
    this.up = true;
    this.emit(this.ups);
  }

  /** Cuts the link: requests in flight fail, messages sent to it are lost until `restore`. */
  drop(): void {
    if (!this.up) return;
    this.up = false;
    const d = this.down;
    this.down = MemoryBroker.signal();
    d.reject(new Error("the NATS link dropped"));
    this.emit(this.downs);
  }

  /** Gives the link back (a reconnect: subscriptions are in place again, `onUp` runs). */
  restore(): void {
    if (this.up || !this.everUp) return;
    this.up = true;
    this.emit(this.ups);
  }

  /** Closes for good: every hold unsubscribed. */
  async close(): Promise<void> {
    for (const h of this.held.values()) this.nats.unsubscribe(h.sub);
    this.held.clear();
    this.drop();
  }

  connected(): boolean {
    return this.up;
  }

  acquire(subject: string, onMsg: (msg: Msg) => void): void {
    const h = this.held.get(subject);
    if (h) {
      h.count++;
      return;
    }
    this.hold(subject, undefined, onMsg);
  }

  serve(subject: string, queue: string, onMsg: (msg: Msg) => void): void {
    if (this.held.has(subject)) throw new Error(`${subject} is held already`);
    this.hold(subject, queue, onMsg);
  }

  release(subject: string): void {
    const h = this.held.get(subject);
    if (!h || --h.count > 0) return;
    this.held.delete(subject);
    this.nats.unsubscribe(h.sub);
  }

  publish(subject: string, payload: string | Uint8Array, headers?: MsgHdrs, reply?: string): boolean {
    if (!this.up) return false;
    const data = payloadBytes(payload);
    if (data.byteLength > this.nats.maxPayload) throw new errors.InvalidArgumentError(`payload size exceeds max_payload of ${this.nats.maxPayload}`);
    this.nats.publish(this.conn, subject, data, headers, reply);
    return true;
  }

  request(subject: string, payload: string, timeoutMs: number): Promise<Msg> {
    if (!this.up) return Promise.reject(new Error("not connected to NATS"));
    const { promise, resolve, reject } = Promise.withResolvers<Msg>();
    const sub = this.oneOff(`${this.proxyBase}${++this.requests}`, (msg) => {
      finish();
      if (msg.data.byteLength === 0 && msg.headers?.code === 503) reject(new errors.NoRespondersError(subject));
      else resolve(msg);
    });
    const timer = setTimeout(() => {
      finish();
      reject(new errors.TimeoutError());
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      this.nats.unsubscribe(sub);
    };
    this.linkDown().catch(finish);
    this.nats.publish(this.conn, subject, payloadBytes(payload), undefined, sub.subject);
    return Promise.race([promise, this.linkDown()]);
  }

  gather(subject: string, payload: string, timeoutMs: number, onAnswer: (msg: Msg) => boolean): Promise<void> {
    if (!this.up) return Promise.reject(new Error("not connected to NATS"));
    const { promise, resolve } = Promise.withResolvers<void>();
    let done = false;
    const sub = this.oneOff(`${this.gatherBase}${++this.requests}`, (msg) => {
      if (done) return;
      let last = true;
      try {
        last = onAnswer(msg);
      } catch (e) {
        this.unexpected.error(this.log, { subject, err: e }, "gathered answer handler failed");
      }
      if (last) finish();
    });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.nats.unsubscribe(sub);
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    this.linkDown().catch(finish);
    this.nats.publish(this.conn, subject, payloadBytes(payload), undefined, sub.subject);
    return promise;
  }

  flush(): Promise<void> {
    if (!this.everUp) return Promise.reject(new Error("not connected yet"));
    const { promise, resolve } = Promise.withResolvers<void>();
    this.nats.after(resolve);
    return Promise.race([promise, this.linkDown()]);
  }

  linkDown(): Promise<never> {
    return this.down.promise;
  }

  streams(): MemoryStreams | undefined {
    return this.everUp ? this.streamsApi : undefined;
  }

  maxPayload(): number {
    return this.everUp ? this.nats.maxPayload : 0;
  }

  onUp(fn: () => void): void {
    this.ups.push(fn);
  }

  onDown(fn: () => void): void {
    this.downs.push(fn);
  }

  get subscriptions(): number {
    return this.held.size;
  }

  private hold(subject: string, queue: string | undefined, onMsg: (msg: Msg) => void): void {
    const sub = this.sub(subject, queue, onMsg);
    this.held.set(subject, { count: 1, sub });
    if (this.everUp) this.nats.subscribe(sub);
  }

  /** A subscription for one request's answers, subscribed at once. */
  private oneOff(subject: string, onMsg: (msg: Msg) => void): MemorySub {
    const sub = this.sub(subject, undefined, onMsg);
    this.nats.subscribe(sub);
    return sub;
  }

  private sub(subject: string, queue: string | undefined, onMsg: (msg: Msg) => void): MemorySub {
    return {
      subject,
      queue,
      conn: this.conn,
      noEcho: this.opts.noEcho ?? false,
      up: () => this.up,
      deliver: (msg) => {
        // A handler that throws must never stop the dispatch for everyone else.
        try {
          onMsg(msg);
        } catch (e) {
          this.unexpected.error(this.log, { subject, err: e }, "NATS message handler failed");
        }
      },
    };
  }

  private emit(fns: Array<() => void>): void {
    for (const fn of fns) {
      try {
        fn();
      } catch (err) {
        this.unexpected.error(this.log, { err }, "broker listener failed");
      }
    }
  }
}
