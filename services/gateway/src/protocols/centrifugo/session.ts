import { randomUUID } from "node:crypto";
import { ProtocolError, centrifugo, type ServedChannel, type centrifugo as C } from "@rt/protocol";
import type { Subscriber } from "../../node/subscription.ts";
import type { Creator } from "../../sessions/create-limit.ts";
import { newBucket, type TokenBucket } from "../../sessions/rate-limit.ts";
import { Subscriptions } from "../../sessions/subscriptions.ts";
import type { ClientData, ClientSession, SocketOf } from "../socket-data.ts";
import type { ClientContext, ClientDeps, SessionState } from "./context.ts";
import { SERVER_UNSUBSCRIBE, SUBSCRIPTION_EXPIRED, runCommand, serverSubscribe } from "./handlers.ts";

const { ErrorCode, DisconnectCode, METHODS, isMethod } = centrifugo;
type Ws = SocketOf<ClientData>;
type Method = C.Method;

/** Commands refused for the rate in a row before the connection is closed with 3013. */
const MAX_REFUSED_IN_A_ROW = 50;
/** The command chain of a connection with nothing queued (shared: an idle connection holds no promise of its own). */
const IDLE: Promise<void> = Promise.resolve();

/**
 * One `/connection/websocket` session of the Centrifugo client protocol v2: the command loop.
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
  /** Its socket, from open on (the session is made at upgrade, before the socket exists). */
  ws!: Ws;
  /** Whose allowance the channels it creates spend (made at its first publish, once the user is known). */
  private createdBy: Creator | undefined;
  private asSubscriber: Subscriber | undefined;

  /** `address`: the client's (the peer's); an anonymous client's channel creations spend its allowance. */
  constructor(readonly d: ClientDeps, private readonly address = "") {
    this.bucket = newBucket(d.config.rateLimitPerSec, d.config.rateLimitBurst);
  }

  attach(ws: Ws): void {
    this.ws = ws;
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

  /** The sweeper's look: ping, pong deadline, subscriptions whose token expired unrenewed (token expiry and 3008 are the adapter's). */
  tick(now: number): void {
    if (this.state !== "connected") return;
    if (this.pingSentAt !== undefined && now - this.pingSentAt > this.d.config.pongTimeoutMs) return this.disconnect(DisconnectCode.NoPong);
    if (now - this.lastPingAt >= this.d.config.pingIntervalSec * 1000) {
      this.lastPingAt = now;
      this.pingSentAt ??= now;
      this.ws.send(this.d.codec.encode([{}]));
    }
    for (const [channel] of this.subs.expiredBefore(now - this.d.config.subscriptionExpiryGraceMs)) this.endSubscription(channel, SUBSCRIPTION_EXPIRED);
  }

  closed(): void {
    if (this.state === "closed") return;
    const wasConnected = this.state === "connected" || this.state === "connecting";
    this.state = "closed";
    this.subs.releaseAll();
    if (wasConnected && this.user !== undefined) {
      const n = (this.d.perUser.get(this.user) ?? 1) - 1;
      if (n <= 0) this.d.perUser.delete(this.user);
      else this.d.perUser.set(this.user, n);
    }
  }

  disconnect(d: { code: number; reason: string }, rejection?: string): void {
    if (rejection) this.d.rejections.count(`centrifugo_${rejection}`, this.d.log);
    if (this.state === "closed") return;
    this.ws.close(d.code, d.reason);
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
    else this.ws.data.expiresAt = expiresAt;
    return true;
  }

  drain(): void {
    for (const s of this.subs.openOnes()) s.opened.drain?.();
  }

  reply(id: number | undefined, method: string, result: object): void {
    if (id === undefined || this.state === "closed") return;
    this.ws.send(this.d.codec.encode([{ id, [method]: result }]));
  }

  push(body: object): void {
    if (this.state === "closed") return;
    this.ws.send(this.d.codec.encode([{ push: body }]));
  }

  creator(): Creator {
    return (this.createdBy ??= this.user ? { user: this.user } : { address: this.address });
  }

  subscriber(): Subscriber {
    return (this.asSubscriber ??= { id: this.id, user: this.user ?? "", sink: this.ws, pushes: this.d.codec.pushes });
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
    this.ws.send(this.d.codec.encode([{ id, error: err.toReply() }]));
  }

  private failed(id: number | undefined, err: unknown): void {
    if (this.state === "closed") return;
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
