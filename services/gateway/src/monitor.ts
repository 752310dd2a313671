import type { Msg } from "@nats-io/transport-node";
import type { Server } from "bun";
import { MAX_METRICS_BYTES, METRICS_WILDCARD, hostFromSubject, metricsSample } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "./broker/broker.ts";
import { HostCache } from "./host-cache.ts";
import type { GatewaySocket, MonitorData } from "./socket-data.ts";
import type { Rejections } from "./rejections.ts";

/** Bun topic every monitor socket subscribes to. */
export const MONITOR_TOPIC = "monitor";

/**
 * One relay for every `/system-monitor` socket: a single NATS subscription to all hosts'
 * samples, the newest sample of each live host kept (as the validated text, serialized once)
 * for new sockets, and each sample fanned out with one topic publish.
 */
export class MonitorRelay {
  private readonly latest = new HostCache();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  constructor(
    private readonly server: () => Server<unknown>,
    private readonly broker: Broker,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
  ) {}

  /** Holds every host's samples (one subscription per gateway, kept for the latest-sample cache). */
  start(): void {
    this.broker.acquire(METRICS_WILDCARD, (msg) => this.onSample(msg));
  }

  /** A monitor socket opened: send the newest sample of each host at once, then subscribe. */
  open(ws: GatewaySocket): void {
    this.sendLatest(ws);
    ws.subscribe(MONITOR_TOPIC);
  }

  /**
   * Conflation for a socket that fell behind: stop feeding it while its buffer is over `limit`,
   * and once it has drained, send only the newest sample of each host and feed it again.
   */
  check(ws: GatewaySocket & { data: MonitorData }, limit: number): void {
    const buffered = ws.getBufferedAmount();
    if (!ws.data.stalled && buffered > limit) {
      ws.data.stalled = true;
      ws.unsubscribe(MONITOR_TOPIC);
    } else if (ws.data.stalled && buffered <= limit / 2) {
      ws.data.stalled = false;
      this.sendLatest(ws);
      ws.subscribe(MONITOR_TOPIC);
    }
  }

  /** Number of hosts with a remembered sample. */
  get hosts(): number {
    return this.latest.size;
  }

  private sendLatest(ws: GatewaySocket): void {
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
    this.server().publish(MONITOR_TOPIC, text);
    this.published(text.length);
  }
}
