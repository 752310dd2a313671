import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Msg, MsgHdrs, Subscription } from "@nats-io/transport-node";
import { REPLY_PREFIX } from "@rt/protocol";
import { LogLimiter, RequestMux, connectNats, drainOrClose, type Logger, type ServiceNats, type ServiceNatsOptions } from "@rt/runtime";
import type { Broker } from "./broker.ts";
import { NatsStreams } from "./nats-streams.ts";

interface Held {
  count: number;
  onMsg: (msg: Msg) => void;
  sub: Subscription | undefined;
  queue?: string;
}

/**
 * The Broker on a NATS connection that is made in the background and kept forever. Holds taken
 * before the first connect are subscribed when it succeeds; after a reconnect the client restores
 * subscriptions by itself.
 */
export class NatsBroker implements Broker {
  private nats: ServiceNats | undefined;
  private jsm: NatsStreams | undefined;
  private backends: RequestMux | undefined;
  private readonly held = new Map<string, Held>();
  private readonly ups: Array<() => void> = [];
  private readonly downs: Array<() => void> = [];
  private down = NatsBroker.signal();
  private readonly fails: Array<(err: Error) => void> = [];
  /** Handlers that threw on a message: whoever publishes such messages cannot flood the log. */
  private readonly unexpected: LogLimiter;

  /**
   * `connectionInboxPrefix`: where this connection's replies arrive (nats.js `inboxPrefix`; the
   * gateway's NATS user may subscribe only under `_INBOX_gateway`). Its own acks use `inboxPrefix`,
   * the same prefix and a random token. Answers from other gateways and from backends come under
   * prefixes of their own (REPLY_PREFIX `gather` and `proxy`), the only ones those may write to.
   */
  constructor(private readonly log: Logger, private readonly connectionInboxPrefix = "_INBOX") {
    const token = randomBytes(12).toString("base64url");
    this.inboxPrefix = `${connectionInboxPrefix}.${token}`;
    this.gatherPrefix = `${REPLY_PREFIX.gather}${token}.`;
    this.unexpected = new LogLimiter();
  }
  private readonly gatherPrefix: string;

  /** A promise rejected later, with a handler so nobody waiting on it is not an error. */
  private static signal(): PromiseWithResolvers<never> {
    const d = Promise.withResolvers<never>();
    d.promise.catch(() => undefined);
    return d;
  }

  /** Connects, retrying until it succeeds; then subscribes what is held and runs the `onUp` listeners. */
  async connect(opts: Omit<ServiceNatsOptions, "logger" | "inboxPrefix">): Promise<void> {
    const nats = await connectNats({ ...opts, inboxPrefix: this.connectionInboxPrefix, logger: this.log });
    nats.onFailed((err) => this.fails.forEach((fn) => fn(err)));
    // checkAPI off: JetStream may not be ready yet; callers find out per request and retry.
    this.jsm = new NatsStreams(await jetstreamManager(nats.nc, { timeout: 5000, checkAPI: false }), () => this.linkDown());
    this.backends = new RequestMux(nats.nc, REPLY_PREFIX.proxy);
    this.nats = nats;
    for (const [subject, h] of this.held) h.sub = this.subscribe(subject, h.onMsg, h.queue);
    nats.onReconnect(() => this.emit(this.ups));
    nats.onDisconnect(() => {
      const d = this.down;
      this.down = NatsBroker.signal();
      d.reject(new Error("the NATS link dropped"));
      this.emit(this.downs);
    });
    this.emit(this.ups);
  }

  /** Drains the connection (bounded wait). */
  async close(): Promise<void> {
    if (this.nats) await drainOrClose(this.nats.nc);
  }

  connected(): boolean {
    return this.nats?.connected() ?? false;
  }

  acquire(subject: string, onMsg: (msg: Msg) => void): void {
    const h = this.held.get(subject);
    if (h) {
      h.count++;
      return;
    }
    this.held.set(subject, { count: 1, onMsg, sub: this.nats ? this.subscribe(subject, onMsg) : undefined });
  }

  serve(subject: string, queue: string, onMsg: (msg: Msg) => void): void {
    if (this.held.has(subject)) throw new Error(`${subject} is held already`);
    this.held.set(subject, { count: 1, onMsg, queue, sub: this.nats ? this.subscribe(subject, onMsg, queue) : undefined });
  }

  release(subject: string): void {
    const h = this.held.get(subject);
    if (!h || --h.count > 0) return;
    this.held.delete(subject);
    h.sub?.unsubscribe();
  }

  publish(subject: string, payload: string | Uint8Array, headers?: MsgHdrs, reply?: string): boolean {
    if (!this.nats?.connected()) return false;
    this.nats.nc.publish(subject, payload, headers || reply ? { ...(headers ? { headers } : {}), ...(reply ? { reply } : {}) } : undefined);
    return true;
  }

  request(subject: string, payload: string, timeoutMs: number): Promise<Msg> {
    if (!this.nats?.connected() || !this.backends) return Promise.reject(new Error("not connected to NATS"));
    return Promise.race([this.backends.request(subject, payload, timeoutMs), this.linkDown()]);
  }

  gather(subject: string, payload: string, timeoutMs: number, onAnswer: (msg: Msg) => boolean): Promise<void> {
    if (!this.nats?.connected()) return Promise.reject(new Error("not connected to NATS"));
    const nc = this.nats.nc;
    const inbox = `${this.gatherPrefix}${++this.gathers}`;
    const { promise, resolve } = Promise.withResolvers<void>();
    let timer: ReturnType<typeof setTimeout> | undefined = undefined;
    let done = false;
    const sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err || done) return;
        let last = true;
        try {
          last = onAnswer(msg);
        } catch (e) {
          this.unexpected.error(this.log, { subject, err: e }, "gathered answer handler failed");
        }
        if (last) finish();
      },
    });
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sub.unsubscribe();
      resolve();
    };
    timer = setTimeout(finish, timeoutMs);
    this.linkDown().catch(finish);
    nc.publish(subject, payload, { reply: inbox });
    return promise;
  }
  private gathers = 0;

  readonly inboxPrefix: string;

  flush(): Promise<void> {
    if (!this.nats) return Promise.reject(new Error("not connected yet"));
    return this.nats.nc.flush();
  }

  linkDown(): Promise<never> {
    return this.down.promise;
  }

  streams(): NatsStreams | undefined {
    return this.jsm;
  }

  maxPayload(): number {
    return this.nats?.nc.info?.max_payload ?? 0;
  }

  onUp(fn: () => void): void {
    this.ups.push(fn);
  }

  onDown(fn: () => void): void {
    this.downs.push(fn);
  }

  /** `fn` runs when the connection closes for good by itself (the server refused the credentials at a reconnect). */
  onFailed(fn: (err: Error) => void): void {
    this.fails.push(fn);
  }

  get subscriptions(): number {
    return this.held.size;
  }

  private subscribe(subject: string, onMsg: (msg: Msg) => void, queue?: string): Subscription {
    return this.nats!.nc.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (err, msg) => {
        if (err) return;
        // A handler that throws must never stop the connection's dispatch for everyone else.
        try {
          onMsg(msg);
        } catch (e) {
          this.unexpected.error(this.log, { subject, err: e }, "NATS message handler failed");
        }
      },
    });
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
