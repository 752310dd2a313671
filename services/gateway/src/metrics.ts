import type { Metrics, SeriesHistogram } from "@rt/runtime";
import type { Counter } from "prom-client";
import type { ProtocolName } from "./routes.ts";

/**
 * A channel namespace as metrics label it: rooms (`chat`), the monitor (`system`), a user's inbox
 * (`personal`), or a CHANNELS_FILE namespace by its name (`_` for channels without a namespace):
 * as many values as the file has namespaces.
 */
export type Namespace = string;
/** A stream whose store latency is measured: ROOMS, NOTIFICATIONS, or a namespace's `NS_<ns>`. */
export type StoreStream = string;
type Protocol = ProtocolName;

/** What the gateway's parts report for Prometheus (every name under `rt_`, listed in docs/observability.md). */
export interface GatewayCounters {
  /** A socket of `protocol` opened. */
  opened(protocol: Protocol): void;
  /** A socket of `protocol` closed with `code`. */
  closed(protocol: Protocol, code: number): void;
  /** A client protocol command ran for `seconds`. */
  command(method: string, seconds: number): void;
  /** A client published into a channel of `ns`. */
  messageIn(ns: Namespace): void;
  /** A message went out to this gateway's subscribers of a channel of `ns` (once, however many they are). */
  messageOut(ns: Namespace): void;
  /** A subscription asked to recover what it missed on `ns`; `recovered` says whether it could. */
  recovery(ns: Namespace, recovered: boolean): void;
  /** A publish to NATS failed. */
  publishFailed(): void;
  /** `stream` confirmed a store `seconds` after the publish was queued. */
  stored(stream: StoreStream, seconds: number): void;
}

/** The counters as Prometheus metrics. */
export class GatewayMetrics implements GatewayCounters {
  private readonly connections: Map<Protocol, number> = new Map();
  private readonly disconnects: Counter<"code">;
  private readonly commands: SeriesHistogram;
  private readonly recoveries: Counter<"namespace" | "result">;
  private readonly publishFailures: Counter;
  private readonly storeLatency: SeriesHistogram;
  /**
   * Messages in and out per namespace label, counted in plain numbers (called per message; a
   * prom-client `inc` hashes its labels each time) and added to the counters when scraped.
   */
  private readonly inCount = new Map<string, number>();
  private readonly outCount = new Map<string, number>();

  constructor(m: Metrics, publishFailures: Counter) {
    m.gauge("connections", "Open WebSockets by endpoint protocol", ["protocol"], (g) => {
      for (const [protocol, n] of this.connections) g.set({ protocol }, n);
    });
    this.disconnects = m.counter("disconnects_total", "Closed WebSockets by close code (sent by either side)", ["code"]);
    this.commands = m.seriesHistogram("command_duration_seconds", "Client protocol commands, from dispatch to reply", "command");
    const drain = (counts: Map<string, number>) => (c: Counter<"namespace">) => {
      for (const [namespace, n] of counts) if (n > 0) c.inc({ namespace }, n);
      for (const ns of counts.keys()) counts.set(ns, 0);
    };
    const inMessages = m.counter("messages_in_total", "Publications clients of this gateway made into channels", ["namespace"], drain(this.inCount));
    const outMessages = m.counter("messages_out_total", "Messages fanned out to this gateway's subscribers (once per message, not per socket)", ["namespace"], drain(this.outCount));
    this.recoveries = m.counter("recoveries_total", "Recoveries asked for, by whether everything missed was sent", ["namespace", "result"]);
    this.storeLatency = m.seriesHistogram("jetstream_store_duration_seconds", "From a publish to the stream's confirmation that it is stored", "stream");
    this.publishFailures = publishFailures;
    for (const ns of ["chat", "system", "personal"] as const) {
      inMessages.inc({ namespace: ns }, 0);
      outMessages.inc({ namespace: ns }, 0);
    }
  }

  /** Sockets of `protocol` open now. */
  open(protocol: Protocol): number {
    return this.connections.get(protocol) ?? 0;
  }

  opened(protocol: Protocol): void {
    this.connections.set(protocol, (this.connections.get(protocol) ?? 0) + 1);
  }

  closed(protocol: Protocol, code: number): void {
    this.connections.set(protocol, (this.connections.get(protocol) ?? 1) - 1);
    this.disconnects.inc({ code: String(code) });
  }

  command(method: string, seconds: number): void {
    this.commands.observe(method, seconds);
  }

  messageIn(ns: Namespace): void {
    const l = label(ns);
    this.inCount.set(l, (this.inCount.get(l) ?? 0) + 1);
  }

  messageOut(ns: Namespace): void {
    const l = label(ns);
    this.outCount.set(l, (this.outCount.get(l) ?? 0) + 1);
  }

  recovery(ns: Namespace, recovered: boolean): void {
    this.recoveries.inc({ namespace: label(ns), result: recovered ? "recovered" : "not_recovered" });
  }

  publishFailed(): void {
    this.publishFailures.inc();
  }

  stored(stream: StoreStream, seconds: number): void {
    this.storeLatency.observe(stream, seconds);
  }
}

/** A namespace's label value: channels without a namespace are `_`. */
const label = (ns: Namespace): string => (ns === "" ? "_" : ns);

/** Counters that count nothing (for parts built without metrics, as in unit tests). */
export const NO_COUNTERS: GatewayCounters = {
  opened() {},
  closed() {},
  command() {},
  messageIn() {},
  messageOut() {},
  recovery() {},
  publishFailed() {},
  stored() {},
};
