import type { Msg, NatsConnection } from "@nats-io/transport-node";
import type { Server } from "bun";
import { MAX_METRICS_BYTES, METRICS_WILDCARD, hostFromSubject, metricsSample } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { GatewaySocket, MonitorData } from "./socket-data.ts";
import type { Rejections } from "./rejections.ts";

/** Bun topic every monitor socket subscribes to. */
export const MONITOR_TOPIC = "monitor";
/** Most hosts remembered; a host silent for `HOST_TTL_MS` is forgotten. */
const MAX_HOSTS = 1024;
const HOST_TTL_MS = 5 * 60_000;

/**
 * One relay for every `/system-monitor` socket: a single NATS subscription to all hosts'
 * samples, the newest sample of each host kept (as the validated text, serialized once)
 * for new sockets, and each sample fanned out with one topic publish.
 */
export class MonitorRelay {
  private readonly latest = new Map<string, { text: string; at: number }>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  constructor(
    private readonly server: () => Server<unknown>,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
  ) {}

  /** Subscribes to every host's samples (one subscription per gateway, kept for the latest-sample cache). */
  start(nc: NatsConnection): void {
    nc.subscribe(METRICS_WILDCARD, {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.onSample(msg);
        } catch (e) {
          this.log.error({ err: e, subject: msg.subject }, "metrics sample handler failed");
        }
      },
    });
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
    const cutoff = Date.now() - HOST_TTL_MS;
    for (const [host, s] of this.latest) {
      if (s.at < cutoff) this.latest.delete(host);
      else ws.send(s.text);
    }
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
    if (!this.latest.has(host) && this.latest.size >= MAX_HOSTS) {
      this.rejections.count("metrics_too_many_hosts", this.log);
      return;
    }
    this.latest.set(host, { text, at: Date.now() });
    this.server().publish(MONITOR_TOPIC, text);
    this.published(text.length);
  }
}
