import { randomUUID } from "node:crypto";
import { ProtocolError, centrifugo, type ServedChannel, type centrifugo as C } from "@rt/protocol";
import type { Subscriber } from "../../node/subscription.ts";
import type { Creator } from "../../sessions/create-limit.ts";
import { newBucket, type TokenBucket } from "../../sessions/rate-limit.ts";
import { Subscriptions } from "../../sessions/subscriptions.ts";
import type { Transport } from "../../transports/transport.ts";
import type { ClientSession } from "../socket-data.ts";
import type { ProxyConnection } from "../../proxies/request-fields.ts";
import { REFRESH_RETRY_MS, type RefreshGrant } from "../../proxies/refresh.ts";
import type { ProxyOutcome } from "../../proxies/outcome.ts";
import type { ClientContext, ClientDeps, ClientOrigin, SessionState } from "./context.ts";
import { BackendDisconnect, jsonInfo, SERVER_UNSUBSCRIBE, SUBSCRIPTION_EXPIRED, runCommand, serverSubscribe } from "./handlers.ts";

const { ErrorCode, DisconnectCode, METHODS, isMethod } = centrifugo;
type Method = C.Method;

/** Commands refused for the rate in a row before the connection is closed with 3013. */
const MAX_REFUSED_IN_A_ROW = 50;
/** setTimeout's longest delay: a later refresh waits in steps of it. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A connection that comes from nowhere known (tests). */
const NO_ORIGIN: ClientOrigin = Object.freeze({ address: "", transport: "websocket", headers: {} });
/** The command chain of a connection with nothing queued (shared: an idle connection holds no promise of its own). */
const IDLE: Promise<void> = Promise.resolve();

/**
 * One session of the Centrifugo client protocol v2, on any transport (a WebSocket, an HTTP stream
 * or SSE whose later commands come through `/emulation`, or a push-only one): the command loop.
 * Commands run in the order they arrive (a connect that checks its JWT holds the subscribes behind
 * it), each through its handler (handlers.ts), which calls the Node; a command before `connect` or
 * an unreadable frame closes with 3501. Its lifecycle: rate limit, pings and pong deadline, token
 * and subscription expiry, the subscriptions it holds (released when it closes).
 */
export class Session implements ClientSession, ClientContext {
  readonly id = randomUUID();
  user: string | undefined;
  state: SessionState = "new";
  connectQueued = false;
  lastPingAt = 0;
  readonly subs = new Subscriptions();
  private chain: Promise<void> = IDLE;
  private readonly bucket: TokenBucket | undefined;
  private refusedInARow = 0;
  /** When the oldest unanswered ping was sent (undefined: none is). */
  private pingSentAt: number | undefined;
  /** What carries it, from open on (the session is made at upgrade, before the socket exists). */
  transport!: Transport;
  /** When its token expires (ms since the epoch; undefined: never). */
  expiresAt: number | undefined;
  /** Its emulation secret (the connect result's `session`), once issued. */
  private secret: string | undefined;
  /** Whose allowance the channels it creates spend (made at its first publish, once the user is known). */
  private createdBy: Creator | undefined;
  private asSubscriber: Subscriber | undefined;
  meta: Record<string, unknown> | undefined;
  connInfo: unknown;
  /** Timers of the proxy refreshes this connection waits for (PROXY_REFRESH, sub_refresh_proxy_enabled): cleared when it closes. */
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  /** `origin`: where it comes from (an anonymous client's channel creations spend its address's allowance; `proxy.connect` tells the backend). */
  constructor(readonly d: ClientDeps, readonly origin: ClientOrigin = NO_ORIGIN) {
    this.bucket = newBucket(d.config.rateLimitPerSec, d.config.rateLimitBurst);
  }

  proxyConnection(): ProxyConnection {
    return { client: this.id, transport: this.origin.transport, protocol: this.d.codec.pushes.name, user: this.user ?? "", meta: this.meta };
  }

  refreshBefore(expiresAt: number): void {
    this.before(expiresAt, async () => {
      const o = await this.d.proxies.refresh(this.proxyConnection());
      if (o.kind === "result" && (o.result.info !== undefined || o.result.infoBytes !== undefined)) this.connInfo = jsonInfo(o.result);
      this.afterRefresh(o, (at) => this.refreshBefore(at), () => this.disconnect(DisconnectCode.Expired));
    });
  }

  subRefreshBefore(channel: string, expiresAt: number): void {
    const s = this.subs.open(channel);
    if (!s) return;
    this.before(expiresAt, async () => {
      if (this.subs.open(channel) !== s) return; // unsubscribed meanwhile
      const o = await this.d.proxies.subRefresh(this.proxyConnection(), channel);
      if (this.subs.open(channel) !== s) return;
      // New channel info: in its publications from then on (presence keeps what it had at subscribe).
      if (o.kind === "result" && (o.result.info !== undefined || o.result.infoBytes !== undefined)) s.info = jsonInfo(o.result);
      this.afterRefresh(o, (at) => {
        this.subs.renewed(s, at);
        this.subRefreshBefore(channel, at);
      }, () => this.endSubscription(channel, SUBSCRIPTION_EXPIRED), () => this.subs.renewed(s, undefined));
    });
  }

  /** Runs `ask` once it is time to ask about something expiring at `expiresAt` (PROXY_TIMEOUT before), unless the connection closed. */
  private before(expiresAt: number, ask: () => Promise<void>): void {
    if (this.state === "closed") return;
    const delay = this.d.proxies.refreshDelay(expiresAt);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.state !== "connected") return;
      if (delay > MAX_TIMER_MS) return this.before(expiresAt, ask); // not yet: setTimeout waits at most ~24.8 days
      void ask();
    }, Math.min(delay, MAX_TIMER_MS));
    this.timers.add(timer);
  }

  /**
   * A refresh's answer: a new expiry (`renew`), expired (`expire`: also when the new expiry has
   * passed), a disconnect, or no decision (an error, a timeout, no backend): kept, and asked again
   * REFRESH_RETRY_MS later, as Centrifugo does. `forever`: it no longer expires.
   */
  private afterRefresh(o: ProxyOutcome<RefreshGrant>, renew: (at: number) => void, expire: () => void, forever: () => void = () => undefined): void {
    if (this.state !== "connected") return;
    if (o.kind === "disconnect") return this.disconnect(o.disconnect, "proxy_disconnect");
    if (o.kind === "error") return renew(Date.now() + REFRESH_RETRY_MS);
    const g = o.result;
    if (g.expired || (g.expiresAt !== undefined && g.expiresAt <= Date.now())) return expire();
    if (g.expiresAt === undefined) return forever();
    renew(g.expiresAt);
  }

  get encoding(): "json" | "protobuf" {
    return this.d.codec.pushes.name;
  }

  attach(transport: Transport): void {
    this.transport = transport;
    this.d.sockets.add(this, "", this.id); // under its user once connected (index()); out when it closes
  }

  /** An emulation request's commands (http_stream, sse): taken into the command loop; false when the session is gone. */
  deliver(data: string | Uint8Array): boolean {
    if (this.state === "closed" || this.transport.closed) return false;
    this.onFrame(typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    return !this.transport.closed;
  }

  /** The connect result's `session` and `node` on a transport whose commands come through `/emulation`; nothing on the others. */
  emulation(): { session: string; node: string } | undefined {
    const e = this.d.emulation;
    if (!this.transport.info.emulation || !e) return undefined;
    this.secret ??= e.sessions.issue(this);
    return { session: this.secret, node: e.node };
  }

  connectUni(request: object): void {
    if (this.state !== "new" || this.connectQueued) return; // later messages of a uni_websocket are ignored
    // The request runs as the connect command would; its reply is written as the connect push.
    this.onFrame(JSON.stringify({ id: 1, connect: request }));
  }

  onFrame(message: string | Buffer): void {
    if (this.state === "closed") return;
    const commands = this.d.codec.decode(message);
    if (!commands) return this.disconnect(DisconnectCode.BadRequest, "unreadable_frame");
    for (const raw of commands) {
      const cmd = raw as Record<string, unknown>;
      const keys = Object.keys(cmd);
      if (keys.length === 0) {
        // `{}`: a pong (it takes a token too: a flood of them is a flood of commands)
        if (this.admit()) this.pingSentAt = undefined;
        else if (this.refusedInARow > MAX_REFUSED_IN_A_ROW) return this.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
        continue;
      }
      const id = cmd.id;
      if (id !== undefined && !(typeof id === "number" && Number.isSafeInteger(id) && id >= 0)) return this.disconnect(DisconnectCode.BadRequest, "bad_command_id");
      const name = keys.find((k) => k !== "id");
      if (name === undefined || keys.length > 2) return this.disconnect(DisconnectCode.BadRequest, "bad_command");
      // An own name of the method table only: `toString`, `__proto__` and the like are unknown methods too.
      if (!isMethod(name)) {
        if (id === undefined) return this.disconnect(DisconnectCode.BadRequest, "unknown_method");
        if (!this.admit()) {
          if (this.refusedInARow > MAX_REFUSED_IN_A_ROW) return this.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
          this.replyError(id, new ProtocolError(ErrorCode.TooManyRequests));
        } else this.replyError(id, new ProtocolError(ErrorCode.MethodNotFound));
        continue;
      }
      const method: Method = name;
      // Commands queued behind a connect (the SDK sends its subscribes in the same frame) wait for it.
      if (method === "connect") this.connectQueued = true;
      else if (!this.connectQueued) return this.disconnect(DisconnectCode.BadRequest, "command_before_connect");
      if (method !== "connect" && !this.admit()) {
        if (this.refusedInARow > MAX_REFUSED_IN_A_ROW) return this.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
        if (id !== undefined) this.replyError(id, new ProtocolError(ErrorCode.TooManyRequests));
        continue;
      }
      const checked = METHODS[method].validate(cmd[method] ?? {});
      if (!checked.ok) {
        this.d.log.debug({ method, errors: checked.errors }, "invalid command");
        if (method === "connect" || id === undefined) return this.disconnect(DisconnectCode.BadRequest, "bad_request");
        this.replyError(id, new ProtocolError(ErrorCode.BadRequest));
        continue;
      }
      const body = checked.value;
      // Nothing queued behind it when it settles: the connection holds no promise while idle.
      const settled = () => {
        if (this.chain === next) this.chain = IDLE;
      };
      const next: Promise<void> = this.chain
        .then(() => (this.state === "closed" ? undefined : this.timed(method, id as number | undefined, body)))
        .then(settled, (err: unknown) => {
          try {
            this.failed(id as number | undefined, err);
          } finally {
            settled();
          }
        });
      this.chain = next;
    }
  }

  /** Takes a token for one command; false when over the rate (counted: a long run of refusals closes with 3013). */
  private admit(): boolean {
    if (!this.bucket || this.bucket.take()) {
      this.refusedInARow = 0;
      return true;
    }
    this.refusedInARow++;
    return false;
  }

  /** The sweeper's look: token expiry (3005), output over BACKPRESSURE_LIMIT_BYTES (3008), ping, pong deadline, subscriptions whose token expired unrenewed. */
  sweep(now: number): void {
    if (this.state === "closed") return;
    if (this.expiresAt !== undefined && this.expiresAt <= now) return this.disconnect(DisconnectCode.Expired);
    if (this.transport.bufferedBytes() > this.d.config.backpressureLimitBytes) return this.disconnect(DisconnectCode.Slow);
    if (this.state !== "connected") return;
    if (this.pingSentAt !== undefined && now - this.pingSentAt > this.d.config.pongTimeoutMs) return this.disconnect(DisconnectCode.NoPong);
    if (now - this.lastPingAt >= this.d.config.pingIntervalSec * 1000) {
      this.lastPingAt = now;
      // A push-only client never answers: its pings only keep proxies from closing an idle stream.
      if (!this.transport.info.unidirectional) this.pingSentAt ??= now;
      this.transport.write(this.d.codec.encode([{}]));
    }
    for (const [channel] of this.subs.expiredBefore(now - this.d.config.subscriptionExpiryGraceMs)) this.endSubscription(channel, SUBSCRIPTION_EXPIRED);
  }

  closed(): void {
    if (this.state === "closed") return;
    const wasConnected = this.state === "connected" || this.state === "connecting";
    this.state = "closed";
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.subs.releaseAll();
    if (this.secret !== undefined) this.d.emulation?.sessions.revoke(this.secret);
    this.d.sockets.delete(this, this.user ?? "", this.id);
    if (wasConnected && this.user !== undefined) {
      const n = (this.d.perUser.get(this.user) ?? 1) - 1;
      if (n <= 0) this.d.perUser.delete(this.user);
      else this.d.perUser.set(this.user, n);
    }
  }

  disconnect(d: { code: number; reason: string }, rejection?: string): void {
    if (rejection) this.d.rejections.count(`centrifugo_${rejection}`, this.d.log);
    if (this.state === "closed") return;
    this.transport.close(d);
    this.closed();
  }

  /**
   * The server API's unsubscribe: ends the subscription to `channel` (a server-side one too) and
   * tells the client with an unsubscribe push (code 2000: the SDKs do not resubscribe). False when
   * the connection holds no such subscription.
   */
  serverUnsubscribe(channel: string): boolean {
    if (this.state !== "connected" || !this.subs.open(channel)) return false;
    this.endSubscription(channel, SERVER_UNSUBSCRIBE);
    return true;
  }

  /** The server API's subscribe (see serverSubscribe). */
  serverSubscribe(channel: ServedChannel, info: unknown, data: unknown): Promise<boolean> {
    return serverSubscribe(this, channel, info, data);
  }

  /**
   * The server API's refresh: `expired` closes the connection now with 3005 (the SDKs connect again,
   * with a new token); otherwise it expires at `expiresAt` (undefined: never), when the sweeper
   * closes it with 3005 unless it is refreshed again (by the client's `refresh`, or this call).
   */
  serverRefresh(expired: boolean, expiresAt: number | undefined): boolean {
    if (this.state !== "connected") return false;
    if (expired) this.disconnect(DisconnectCode.Expired, "api_expired");
    else this.expiresAt = expiresAt;
    return true;
  }

  drain(): void {
    for (const s of this.subs.openOnes()) s.opened.drain?.();
  }

  reply(id: number | undefined, method: string, result: object): void {
    if (id === undefined || this.state === "closed") return;
    // Push-only: the connect result is the connect push, and nothing else is answered.
    if (this.transport.info.unidirectional) {
      if (method === "connect") this.transport.write(this.d.codec.encode([{ connect: result }]));
      return;
    }
    this.transport.write(this.d.codec.encode([{ id, [method]: result }]));
  }

  replyWhen(id: number | undefined, method: string, result: Promise<object>): void {
    result.then((r) => this.reply(id, method, r), (err: unknown) => this.failed(id, err));
  }

  push(body: object): void {
    if (this.state === "closed") return;
    this.transport.write(this.d.codec.encode([{ push: body }]));
  }

  index(): void {
    this.d.sockets.add(this, this.user ?? "", this.id);
  }

  creator(): Creator {
    return (this.createdBy ??= this.user ? { user: this.user } : { address: this.origin.address });
  }

  subscriber(): Subscriber {
    const session = this;
    return (this.asSubscriber ??= {
      id: this.id, user: this.user ?? "", sink: this.transport, pushes: this.d.codec.pushes,
      get connInfo() {
        return session.connInfo;
      },
    });
  }

  /** Ends the subscription to `channel` and tells the client why (an unsubscribe push). */
  private endSubscription(channel: string, why: { code: number; reason: string }): void {
    const s = this.subs.remove(channel);
    if (!s) return;
    Subscriptions.release(s);
    this.push({ channel, unsubscribe: why });
  }

  /** Runs one command and records how long it took (failures too). */
  private async timed(method: Method, id: number | undefined, body: unknown): Promise<void> {
    const start = performance.now();
    try {
      await runCommand(this, method, id, body);
    } finally {
      this.d.counters.command(method, (performance.now() - start) / 1000);
    }
  }

  private replyError(id: number, err: ProtocolError): void {
    if (this.state === "closed") return;
    // Push-only: a refused connect cannot be answered and retried: the connection ends (an expired token 3005, else 3004).
    if (this.transport.info.unidirectional) return this.disconnect(err.code === ErrorCode.TokenExpired ? DisconnectCode.Expired : DisconnectCode.InternalError);
    this.transport.write(this.d.codec.encode([{ id, error: err.toReply() }]));
  }

  private failed(id: number | undefined, err: unknown): void {
    if (this.state === "closed") return;
    if (err instanceof BackendDisconnect) return this.disconnect(err.disconnect, "proxy_disconnect");
    if (err instanceof ProtocolError) {
      if (err.disconnect) return this.disconnect(err.disconnect, `error_${err.code}`);
      if (id !== undefined) this.replyError(id, err);
      return;
    }
    // A store or NATS that did not answer: the command fails (temporary), the session stays.
    this.d.rejections.count("centrifugo_command_failed", this.d.log, { err: String(err) });
    if (id !== undefined) this.replyError(id, new ProtocolError(ErrorCode.Internal));
  }
}
