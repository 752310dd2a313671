import type { Msg } from "@nats-io/transport-node";
import { MAX_METRICS_BYTES, METRICS_WILDCARD, MONITOR_CHANNEL, hostFromSubject, metricsSample } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { NO_COUNTERS, type GatewayCounters } from "../metrics.ts";
import type { Rejections } from "../rejections.ts";
import type { Sink } from "./sink.ts";
import { noneYet, type PerEncoding, type PushEncoding } from "../protocols/centrifugo/push.ts";
import { HostCache } from "./host-cache.ts";
import type { TopicPublisher } from "./sink.ts";

/** Bun topic every `/system-monitor` socket subscribes to. */
export const MONITOR_TOPIC = "monitor";

/**
 * One relay for every `/system-monitor` socket and `system:monitor` subscriber: a single NATS
 * subscription to all hosts' samples, the newest sample of each live host kept (as the validated
 * text, serialized once) for new subscribers, and each sample fanned out with one topic publish
 * per encoding.
 */
export class MonitorRelay {
  private readonly latest = new HostCache();
  /** Protocol subscribers per encoding (a sample is framed only for encodings that have some). */
  private readonly subscribers: PerEncoding = noneYet();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  constructor(
    private readonly server: () => TopicPublisher,
    private readonly broker: Broker,
    private readonly encodings: readonly PushEncoding[],
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
    private readonly counters: GatewayCounters = NO_COUNTERS,
  ) {}

  /** Protocol subscribers of `system:monitor` here (`/system-monitor` sockets are counted as connections). */
  get protocolSubscribers(): number {
    let n = 0;
    for (const enc of this.encodings) n += this.subscribers[enc.name];
    return n;
  }

  /** Holds every host's samples (one subscription per gateway, kept for the latest-sample cache). */
  start(): void {
    this.broker.acquire(METRICS_WILDCARD, (msg) => this.onSample(msg));
  }

  /** A `/system-monitor` socket opened: send the newest sample of each host at once, then subscribe. */
  open(ws: Sink): void {
    this.sendLatest(ws);
    ws.subscribe(MONITOR_TOPIC);
  }

  /** A protocol subscriber of `system:monitor` (after its subscribe reply): the newest samples, then the topic. */
  subscribeProtocol(ws: Sink, enc: PushEncoding): void {
    for (const text of this.latest.live(Date.now())) ws.send(enc.publication(MONITOR_CHANNEL, text));
    ws.subscribe(enc.topic(MONITOR_CHANNEL));
    this.subscribers[enc.name]++;
  }

  /** The subscriber left `system:monitor` (unsubscribe, or its socket closed). */
  unsubscribeProtocol(ws: Sink, enc: PushEncoding): void {
    ws.unsubscribe(enc.topic(MONITOR_CHANNEL));
    this.subscribers[enc.name]--;
  }

  /**
   * Conflation for a socket that fell behind: stop feeding it while its buffer is over `limit`,
   * and once it has drained, send only the newest sample of each host and feed it again.
   */
  check(ws: Sink, state: { stalled: boolean }, limit: number): void {
    const buffered = ws.getBufferedAmount();
    if (!state.stalled && buffered > limit) {
      state.stalled = true;
      ws.unsubscribe(MONITOR_TOPIC);
    } else if (state.stalled && buffered <= limit / 2) {
      state.stalled = false;
      this.sendLatest(ws);
      ws.subscribe(MONITOR_TOPIC);
    }
  }

  /** Number of hosts with a remembered sample. */
  get hosts(): number {
    return this.latest.size;
  }

  private sendLatest(ws: Sink): void {
    for (const text of this.latest.live(Date.now())) ws.send(text);
  }

  private onSample(msg: Msg): void {
    const host = hostFromSubject(msg.subject);
    let text: string;
    let value: unknown;
    try {
      if (msg.data.byteLength > MAX_METRICS_BYTES) throw new Error("oversize");
      text = this.decoder.decode(msg.data);
      value = JSON.parse(text);
    } catch {
      this.rejections.count("nats_metrics_payload", this.log, { subject: msg.subject });
      return;
    }
    if (host === undefined || !metricsSample.check(value) || value.host !== host) {
      this.rejections.count("nats_metrics_payload", this.log, { subject: msg.subject });
      return;
    }
    this.latest.put(host, text, value.interval_ms, Date.now());
    const server = this.server();
    server.publish(MONITOR_TOPIC, text);
    this.published(text.length);
    this.counters.messageOut("system");
    for (const enc of this.encodings) {
      if (this.subscribers[enc.name] === 0) continue;
      const push = enc.publication(MONITOR_CHANNEL, text); // the sample is JSON text already: not serialized again
      server.publish(enc.topic(MONITOR_CHANNEL), push);
      this.published(push.length);
    }
  }
}
