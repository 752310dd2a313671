import { Centrifuge, type PublicationContext, type Subscription } from "centrifuge";
import { StallableTransport } from "@rt/testkit";
import type { EventLog, Track, TrackEntry } from "../lib/log.ts";
import type { Running } from "../lib/running.ts";

/** Omit over each member of a union. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The unique id a publication carries: `text` in a room, `body` in a notification. */
export function idOf(data: unknown): string {
  if (typeof data === "object" && data !== null) {
    const d = data as { text?: unknown; body?: unknown };
    if (typeof d.text === "string") return d.text;
    if (typeof d.body === "string") return d.body;
  }
  return `?${JSON.stringify(data)}`;
}

/**
 * One client of the official `centrifuge` SDK, unmodified, as an application runs it: connected
 * to its own gateway (and to the next one when that one refuses, as a load balancer would send
 * it), subscribed to rooms, with the server-side subscription to its user's inbox, recovering
 * after every disconnect by itself. Everything it is told and receives goes to the event log, one
 * track per channel. Its socket can be stalled (`transport.pause()`).
 */
export class SdkClient {
  readonly centrifuge: Centrifuge;
  readonly transport: StallableTransport;
  private readonly tracks = new Map<string, Track>();
  private readonly subs = new Map<string, Subscription>();
  private gateway: number;
  /** Publishes that failed, by reason. */
  readonly failures = new Map<string, number>();
  /** Disconnects seen, by code (for the progress line and the report). */
  readonly disconnects = new Map<number, number>();
  /** Subscription errors (a refused or failed subscribe the SDK retries), by channel and code: report only. */
  readonly subErrors = new Map<string, number>();

  constructor(readonly name: string, readonly user: string, token: string, gateways: readonly string[], home: number, private readonly log: EventLog) {
    this.gateway = home;
    this.transport = new StallableTransport((_url, failedBefore) => {
      if (failedBefore) this.gateway = (this.gateway + 1) % gateways.length;
      return `${gateways[this.gateway]}/connection/websocket`;
    });
    this.centrifuge = new Centrifuge("ws://gateway/connection/websocket", {
      token,
      websocket: this.transport.websocket,
      minReconnectDelay: 100,
      maxReconnectDelay: 1000,
      timeout: 5000,
    });
    const inbox = `#${user}`;
    this.tracks.set(inbox, log.track(name, inbox, true));
    // The server-side subscription (the inbox) reports on the client itself.
    this.centrifuge.on("subscribed", (ctx) => this.entry(ctx.channel, { type: "subscribed", recovered: ctx.recovered, wasRecovering: ctx.wasRecovering, position: ctx.streamPosition }));
    this.centrifuge.on("subscribing", (ctx) => this.entry(ctx.channel, { type: "down", reason: "reconnecting" }));
    this.centrifuge.on("unsubscribed", (ctx) => this.entry(ctx.channel, { type: "down", reason: "unsubscribed by the server" }));
    this.centrifuge.on("publication", (ctx) => this.received(ctx));
    this.centrifuge.on("disconnected", (ctx) => this.disconnects.set(ctx.code, (this.disconnects.get(ctx.code) ?? 0) + 1));
    this.centrifuge.on("connecting", (ctx) => {
      if (ctx.code !== 0) this.disconnects.set(ctx.code, (this.disconnects.get(ctx.code) ?? 0) + 1);
    });
  }

  /** Connects and subscribes to `channels`; resolves once connected and subscribed. */
  async start(channels: readonly string[]): Promise<void> {
    for (const channel of channels) {
      this.tracks.set(channel, this.log.track(this.name, channel, true));
      const sub = this.centrifuge.newSubscription(channel);
      sub.on("subscribed", (ctx) => this.entry(channel, { type: "subscribed", recovered: ctx.recovered, wasRecovering: ctx.wasRecovering, position: ctx.streamPosition }));
      sub.on("subscribing", (ctx) => this.entry(channel, { type: "down", reason: `${ctx.code} ${ctx.reason}` }));
      sub.on("unsubscribed", (ctx) => this.entry(channel, { type: "down", reason: `unsubscribed: ${ctx.code} ${ctx.reason}` }));
      sub.on("publication", (ctx) => this.received(ctx));
      sub.on("error", (ctx) => {
        const key = `${channel} ${ctx.error.code}`;
        this.subErrors.set(key, (this.subErrors.get(key) ?? 0) + 1);
      });
      sub.subscribe();
      this.subs.set(channel, sub);
    }
    this.centrifuge.connect();
    await this.centrifuge.ready(15_000);
    await Promise.all([...this.subs.values()].map((s) => s.ready(15_000)));
  }

  /** The subscription to `channel` (one of start's). */
  sub(channel: string): Subscription {
    const s = this.subs.get(channel);
    if (!s) throw new Error(`${this.name} is not subscribed to ${channel}`);
    return s;
  }

  /** True while connected with every subscription (and the inbox) subscribed. */
  get settled(): boolean {
    if (this.centrifuge.state !== "connected") return false;
    for (const s of this.subs.values()) if (s.state !== "subscribed") return false;
    const inbox = this.tracks.get(`#${this.user}`)!.entries.findLast((e) => e.type !== "pub");
    return inbox?.type === "subscribed";
  }

  /**
   * Publishes `{text: id}` on `channel` (one of start's), the next `everyMs` after the last reply,
   * until `running` ends. The reply acknowledges it; a publish that failed (timeout, disconnect)
   * is not retried: it may or may not have been stored, so it is never acknowledged.
   */
  async publish(running: Running, channel: string, everyMs: number): Promise<void> {
    const sub = this.sub(channel);
    let n = 0;
    while (running.on) {
      const pub = this.log.sent({ id: `${this.name}.${++n}`, channel, source: "sdk", publisher: this.name, n });
      try {
        await sub.publish({ text: pub.id });
        this.log.acked(pub);
      } catch (err) {
        const why = (err as { message?: string }).message ?? String(err);
        this.failures.set(why, (this.failures.get(why) ?? 0) + 1);
      }
      await running.sleep(everyMs);
    }
  }

  stop(): void {
    this.transport.resume();
    this.centrifuge.disconnect();
  }

  private received(ctx: PublicationContext): void {
    this.entry(ctx.channel, { type: "pub", id: idOf(ctx.data), offset: ctx.offset });
  }

  private entry(channel: string, e: DistributiveOmit<TrackEntry, "t">): void {
    const track = this.tracks.get(channel) ?? this.log.track(this.name, channel, true);
    this.tracks.set(channel, track);
    track.entries.push({ t: this.log.now(), ...e });
  }
}
