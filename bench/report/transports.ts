import type { StreamTransport } from "../client/streams.ts";
import { si } from "../lib/stats.ts";

/** One transport's fan-out into one `chat:` room. */
export interface TransportFanoutResult {
  transport: StreamTransport;
  subscribers: number;
  payloadBytes: number;
  rounds: { sent: number; expected: number; delivered: number; durationMs: number; deliveriesPerSec: number; serverCpuPercent: number; serverCpuSeconds: number; clientCpuPercent: number }[];
  /** The best round. */
  deliveriesPerSec: number;
  medianDeliveriesPerSec: number;
  serverCpuPercent: number;
  /** Deliveries per second of gateway CPU, over all measured rounds. */
  deliveriesPerCpuSec: number;
  /** This transport's best rate and deliveries per CPU-second over WebSocket's (1 for WebSocket). */
  ratioToWs: number;
  cpuRatioToWs: number;
  lost: number;
  error?: string;
}

/** One transport's idle connections: gateway memory per connection. */
export interface TransportIdleResult {
  transport: StreamTransport;
  connections: number;
  opened: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  kbPerConnection: number;
  idleCpuPercent: number;
  /** Connections that ended while idle. */
  ended: number;
  lost: number;
  error?: string;
}

export interface TransportsResult {
  fanout: TransportFanoutResult[];
  idle: TransportIdleResult[];
  lost: number;
  error?: string;
}

/** The report's section (markdown). */
export function transportsMarkdown(results: TransportsResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    out.push("", "## Transports beside WebSocket");
    out.push(
      "",
      "One `chat:` room on one gateway, the same publisher load (one WebSocket publisher, 256 publications in flight, 32-byte payloads) and subscribers over each transport, measured in interleaved rounds (best round). " +
        "Stream subscribers subscribe through `POST /emulation` with their connect result's session and node (the SDK's way), so publications take the same channel fan-out as WebSocket's. Raw clients count newlines, one client process per transport. " +
        "Deliveries per CPU-second: all measured rounds' deliveries / the gateway's CPU seconds meanwhile. On a busy machine the publisher's round trip (through the ROOMS stream) bounds the rate more than the fan-out does: per CPU-second is the figure to compare. Ratios are against WebSocket in the same run.",
      "",
    );
    out.push("| transport | subscribers | deliveries/s (best) | × WebSocket | rounds | gateway CPU (best) | deliveries per CPU-second | × WebSocket | lost |", "|---|---|---|---|---|---|---|---|---|");
    for (const x of r.fanout) {
      out.push(`| ${x.transport} | ${x.subscribers} | ${x.error ? `error: ${x.error}` : si(x.deliveriesPerSec)} | ${x.ratioToWs}× | ${x.rounds.map((b) => si(b.deliveriesPerSec)).join(", ")} | ${x.serverCpuPercent}% | ${si(x.deliveriesPerCpuSec)} | ${x.cpuRatioToWs}× | ${x.lost} |`);
    }
    if (r.idle.length) out.push("", "Idle connections (rooms of 100), one fresh gateway per transport; KB per connection = gateway VmRSS growth after the settle / connections (KiB). `ws`, `http_stream` and `sse` connections are connected and subscribed to their room's `chat:` channel; `uni_sse` ones connected only (a unidirectional connection subscribes only server-side).", "");
    if (r.idle.length) out.push("| transport | connections | RSS before | RSS after | KB per connection | idle CPU | ended while idle |", "|---|---|---|---|---|---|---|");
    for (const x of r.idle) {
      out.push(
        `| ${x.transport} | ${x.connections} | ${(x.rssBeforeBytes / 2 ** 20).toFixed(0)} MiB | ${(x.rssAfterBytes / 2 ** 20).toFixed(0)} MiB | ${x.error ? `error: ${x.error}` : x.kbPerConnection} | ${x.idleCpuPercent}% | ${x.ended} |`,
      );
    }
    if (r.error) out.push("", `Error: ${r.error}`);
  }
  return out;
}
