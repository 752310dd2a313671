import { Centrifuge, type JoinContext, type LeaveContext, type PublicationContext, type Subscription } from "centrifuge";
import { Centrifuge as ProtobufCentrifuge } from "centrifuge/build/protobuf";
import { Conditions } from "./conditions.ts";

/** The SDK's two builds: JSON (text frames), and Protobuf (`centrifuge-protobuf`, binary frames, `data` as bytes). */
export type SdkEncoding = "json" | "protobuf";

/** A join or leave push, as the SDK reported it. */
export interface Presence {
  channel: string;
  user: string;
  client: string;
}

/** A JSON value as the Protobuf build carries application data: its UTF-8 bytes. */
export const jsonBytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

/** One received publication, as the SDK reported it. */
export interface Received {
  channel: string;
  data: unknown;
  offset: number | undefined;
  /** Who published (`chanInfo`: the publisher's channel info, only when it has one). */
  info: { user: string; client: string; chanInfo?: unknown } | undefined;
  /** True when the SDK handed the data over as bytes (the Protobuf build). */
  binary: boolean;
  /** The publication's tags (the server API's `tags`), when it has any. */
  tags?: Record<string, string>;
}

/**
 * The official `centrifuge` SDK, unmodified, with what tests need around it: every publication
 * (channel subscriptions and server-side ones) and every subscribed/disconnected event recorded,
 * and waits on conditions instead of sleeps.
 */
export class SdkClient implements AsyncDisposable {
  readonly publications: Received[] = [];
  /** Subscribed events (`data`: the subscribe result's or push's, as the JSON value it holds). */
  readonly subscribed: Array<{ channel: string; wasRecovering: boolean; recovered: boolean; offset: number | undefined; epoch: string | undefined; data?: unknown }> = [];
  readonly disconnects: Array<{ code: number; reason: string }> = [];
  readonly errors: unknown[] = [];
  readonly joins: Presence[] = [];
  /** Subscriptions that ended (a refused subscribe ends one: its code and reason). */
  readonly unsubscribes: Array<{ channel: string; code: number; reason: string }> = [];
  readonly leaves: Presence[] = [];
  /** Server-side subscriptions that ended (the SDK's top-level `unsubscribed`: the channel only). */
  readonly serverUnsubscribed: string[] = [];
  clientId: string | undefined;
  private readonly conditions = new Conditions();

  constructor(readonly centrifuge: Centrifuge) {
    centrifuge.on("connected", (ctx) => {
      this.clientId = ctx.client;
      this.wake();
    });
    centrifuge.on("disconnected", (ctx) => {
      this.disconnects.push({ code: ctx.code, reason: ctx.reason });
      this.wake();
    });
    centrifuge.on("error", (ctx) => {
      this.errors.push(ctx);
      this.wake();
    });
    centrifuge.on("subscribed", (ctx) => this.onSubscribed(ctx.channel, ctx.wasRecovering, ctx.recovered, ctx.streamPosition, ctx.data));
    centrifuge.on("publication", (ctx) => this.onPublication(ctx));
    centrifuge.on("unsubscribed", (ctx) => {
      this.serverUnsubscribed.push(ctx.channel);
      this.wake();
    });
  }

  /**
   * A client for `url` (ws://…/connection/websocket) with fast reconnects for tests. With
   * `protobuf`, the SDK's Protobuf build (the same API; publication data arrives as bytes and is
   * recorded here as the JSON value they hold).
   */
  static create(url: string, opts: { token?: string; getToken?: () => Promise<string> } = {}, encoding: SdkEncoding = "json"): SdkClient {
    const options = { ...opts, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
    // The two builds declare the same class separately; the Protobuf one is used through the JSON one's type.
    return new SdkClient(encoding === "json" ? new Centrifuge(url, options) : (new ProtobufCentrifuge(url, options) as unknown as Centrifuge));
  }

  /** Connects and waits for the connected state. */
  async connect(timeoutMs = 5000): Promise<void> {
    this.centrifuge.connect();
    await this.centrifuge.ready(timeoutMs);
  }

  /** A channel subscription whose publications and subscribed events are recorded. */
  subscription(channel: string, opts: Record<string, unknown> = {}): Subscription {
    const sub = this.centrifuge.getSubscription(channel) ?? this.centrifuge.newSubscription(channel, opts);
    sub.removeAllListeners();
    sub.on("publication", (ctx) => this.onPublication(ctx));
    sub.on("subscribed", (ctx) => this.onSubscribed(ctx.channel, ctx.wasRecovering, ctx.recovered, ctx.streamPosition));
    sub.on("error", (ctx) => {
      this.errors.push(ctx);
      this.wake();
    });
    sub.on("unsubscribed", (ctx) => {
      this.unsubscribes.push({ channel: ctx.channel, code: ctx.code, reason: ctx.reason });
      this.wake();
    });
    sub.on("join", (ctx) => this.onPresence(this.joins, ctx));
    sub.on("leave", (ctx) => this.onPresence(this.leaves, ctx));
    return sub;
  }

  /** Subscribes and waits until subscribed. */
  async subscribe(channel: string, opts: Record<string, unknown> = {}): Promise<Subscription> {
    const sub = this.subscription(channel, opts);
    sub.subscribe();
    await sub.ready(5000);
    return sub;
  }

  /** The data of the publications received on `channel`, in order. */
  data(channel: string): unknown[] {
    return this.publications.filter((p) => p.channel === channel).map((p) => p.data);
  }

  /** Waits until `cond` holds. */
  until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return this.conditions.until(cond, what, timeoutMs, () => ` (publications: ${this.publications.length}, disconnects: ${JSON.stringify(this.disconnects)})`);
  }

  /** Waits until `n` publications arrived on `channel`. */
  waitFor(channel: string, n: number, timeoutMs = 5000): Promise<void> {
    return this.until(() => this.data(channel).length >= n, `${n} publications on ${channel}`, timeoutMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.centrifuge.disconnect();
  }

  private onPresence(list: Presence[], ctx: JoinContext | LeaveContext): void {
    list.push({ channel: ctx.channel, user: ctx.info.user, client: ctx.info.client });
    this.wake();
  }

  private onPublication(ctx: PublicationContext): void {
    const data: unknown = ctx.data instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(ctx.data)) : ctx.data;
    // Channel info as the JSON value it holds (the Protobuf build hands bytes over, empty when there is none).
    const raw: unknown = ctx.info?.chanInfo;
    const chanInfo = raw instanceof Uint8Array ? (raw.byteLength === 0 ? undefined : (JSON.parse(new TextDecoder().decode(raw)) as unknown)) : raw;
    const info = ctx.info ? { user: ctx.info.user, client: ctx.info.client, ...(chanInfo === undefined ? {} : { chanInfo }) } : undefined;
    this.publications.push({ channel: ctx.channel, data, binary: ctx.data instanceof Uint8Array, offset: ctx.offset, info, ...(ctx.tags && Object.keys(ctx.tags).length > 0 ? { tags: { ...ctx.tags } } : {}) });
    this.wake();
  }

  private onSubscribed(channel: string, wasRecovering: boolean, recovered: boolean, pos: { offset: number; epoch: string } | undefined, raw?: unknown): void {
    const data: unknown = raw instanceof Uint8Array ? (raw.byteLength === 0 ? undefined : (JSON.parse(new TextDecoder().decode(raw)) as unknown)) : raw;
    this.subscribed.push({ channel, wasRecovering, recovered, offset: pos?.offset, epoch: pos?.epoch, ...(data === undefined ? {} : { data }) });
    this.wake();
  }

  private wake(): void {
    this.conditions.wake();
  }
}
