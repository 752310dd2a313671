import { si } from "../lib/stats.ts";
import { TARGETS } from "./checks.ts";
import type { BenchResults } from "./types.ts";

const COLORS: Record<string, string> = {
  gateway: "#2563eb",
  "gateway x2": "#7c3aed",
  "gateway-protocol": "#0891b2",
  "gateway-nohistory": "#0e7490",
  "raw-bun": "#f59e0b",
  "node-ws": "#16a34a",
  "socketio x2": "#db2777",
  "centrifuge-go": "#64748b",
  "nats-floor": "#a16207",
  "jetstream-floor": "#854d0e",
};
const LINE_COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];
const FONT = `font-family="system-ui, sans-serif"`;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
/** A text element; `extra` may set font-size, font-weight, fill. */
function text(x: number, y: number, s: string, extra = ""): string {
  const size = /font-size=/.test(extra) ? "" : ` font-size="11"`;
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT}${size} ${extra}>${esc(s)}</text>`;
}

interface Bar {
  label: string;
  value: number;
  color: string;
  note?: string;
}

/** Horizontal bars in a box at (x, y) of width w; one row per bar. */
function bars(x: number, y: number, w: number, title: string, items: Bar[], limit?: { value: number; label: string }): { svg: string; height: number } {
  const labelW = 130;
  const rowH = 20;
  const max = Math.max(1e-9, ...items.map((b) => b.value), limit?.value ?? 0) * 1.15;
  const plotW = w - labelW - 75;
  const parts: string[] = [text(x, y + 12, title, `font-size="13" font-weight="600"`)];
  items.forEach((b, i) => {
    const yy = y + 24 + i * rowH;
    const bw = (b.value / max) * plotW;
    parts.push(text(x, yy + 13, b.label));
    parts.push(`<rect x="${x + labelW}" y="${yy + 2}" width="${Math.max(1, bw).toFixed(1)}" height="${rowH - 6}" fill="${b.color}"/>`);
    parts.push(text(x + labelW + bw + 4, yy + 13, b.note ?? si(b.value), `fill="#333"`));
  });
  const height = 24 + items.length * rowH + 8;
  if (limit) {
    const lx = x + labelW + (limit.value / max) * plotW;
    parts.push(`<line x1="${lx.toFixed(1)}" y1="${y + 20}" x2="${lx.toFixed(1)}" y2="${y + height - 4}" stroke="#dc2626" stroke-dasharray="4 3"/>`);
    parts.push(text(lx + 3, y + height + 6, limit.label, `fill="#dc2626"`));
  }
  return { svg: parts.join("\n"), height: height + 12 };
}

/** Latency CDFs on a log-scale ms axis, with the p99 target. */
function cdf(x: number, y: number, w: number, h: number, r: BenchResults): string {
  const parts: string[] = [text(x, y + 12, "Notification latency, POST to socket (percentiles)", `font-size="13" font-weight="600"`)];
  const px = x + 40;
  const py = y + 24;
  const pw = w - 60;
  const ph = h - 60;
  const series = r.latency.filter((l) => l.latencyMs.cdf.length > 0);
  const maxMs = Math.max(TARGETS.p99Ms * 2, ...series.map((l) => l.latencyMs.max));
  const lo = 0.1;
  const hi = 10 ** Math.ceil(Math.log10(maxMs));
  const sx = (ms: number) => px + ((Math.log10(Math.max(lo, ms)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw;
  // "Nines" scale: p50, p90, p99, p99.9 equally spaced, so the tail is readable.
  const nines = (p: number) => -Math.log10(1 - Math.min(p, 99.95) / 100);
  const sy = (p: number) => py + ph - (nines(p) / nines(99.95)) * ph;
  parts.push(`<rect x="${px}" y="${py}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (let d = lo; d <= hi * 1.001; d *= 10) {
    parts.push(`<line x1="${sx(d).toFixed(1)}" y1="${py}" x2="${sx(d).toFixed(1)}" y2="${py + ph}" stroke="#eee"/>`);
    parts.push(text(sx(d) - 8, py + ph + 14, d >= 1 ? String(Math.round(d)) : String(d)));
  }
  parts.push(text(px + pw / 2 - 10, py + ph + 28, "ms (log)"));
  for (const p of [0, 50, 90, 99, 99.9]) {
    parts.push(`<line x1="${px}" y1="${sy(p).toFixed(1)}" x2="${px + pw}" y2="${sy(p).toFixed(1)}" stroke="#eee"/>`);
    parts.push(text(x + 4, sy(p) + 4, `p${p}`));
  }
  const tx = sx(TARGETS.p99Ms);
  parts.push(`<line x1="${tx.toFixed(1)}" y1="${py}" x2="${tx.toFixed(1)}" y2="${py + ph}" stroke="#dc2626" stroke-dasharray="4 3"/>`);
  parts.push(text(tx + 3, py + 12, `p99 target ${TARGETS.p99Ms} ms`, `fill="#dc2626"`));
  series.forEach((l, i) => {
    const color = LINE_COLORS[i % LINE_COLORS.length]!;
    const pts = l.latencyMs.cdf.map(([p, ms]) => `${sx(ms).toFixed(1)},${sy(p).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>`);
    const via = l.via === "nats-floor" ? "NATS floor" : (l.via ?? "notifications") === "protocol" ? "protocol" : "/notifications";
    parts.push(text(px, py + ph + 44 + i * 14, `${via} ${l.ratePerSec}/s: p50 ${l.latencyMs.p50.toFixed(1)}, p99 ${l.latencyMs.p99.toFixed(1)}, max ${l.latencyMs.max.toFixed(1)} ms`, `fill="${color}"`));
  });
  return parts.join("\n");
}

/** Throughput bars, latency distribution and idle memory in one SVG. */
export function svg(r: BenchResults): string {
  const W = 1280;
  const fan: Bar[] = r.fanout
    .filter((f) => !f.error && f.rounds.length > 0)
    .map((f) => {
      const name = f.processes > 1 ? `${f.target} x${f.processes}` : f.target;
      return { label: `${si(f.members)}: ${name}`, value: f.deliveriesPerSec, color: COLORS[name] ?? "#555" };
    });
  const idle: Bar[] = r.idle
    .filter((i) => !i.error)
    .map((i) => {
      const name = i.processes > 1 ? `${i.target} x${i.processes}` : i.target;
      return { label: `${si(i.sockets)}: ${name}`, value: i.kbPerSocket, color: COLORS[i.target] ?? "#555", note: `${i.kbPerSocket.toFixed(2)} KB` };
    });
  const a = bars(10, 40, 460, "Room fan-out, deliveries/s (best round)", fan);
  const c = bars(900, 40, 370, "Idle memory, KB per socket (RSS delta)", idle, { value: TARGETS.idleKbPerSocket, label: `target ${TARGETS.idleKbPerSocket} KB` });
  // Under the idle bars: the connect storm (connections/s) and the reconnect storm (seconds until all recovered), each with its target.
  const storm: Bar[] = (r.connect ?? []).filter((x) => !x.error).map((x) => ({ label: `${si(x.clients)}: ${x.target ?? "gateway"}`, value: x.connectionsPerSec, color: COLORS[x.target ?? "gateway"] ?? "#555" }));
  const d = storm.length ? bars(900, 40 + c.height, 370, "Connect storm, connections/s (JWT)", storm, { value: TARGETS.connectPerSec, label: `target ${si(TARGETS.connectPerSec)}/s` }) : { svg: "", height: 0 };
  const back: Bar[] = (r.reconnect ?? [])
    .filter((x) => x.allRecoveredMs !== null)
    .map((x) => ({ label: `${si(x.clients)}, ${x.signal}`, value: x.allRecoveredMs! / 1000, color: COLORS["gateway x2"] ?? "#555", note: `${(x.allRecoveredMs! / 1000).toFixed(2)} s` }));
  const e = back.length ? bars(900, 40 + c.height + d.height, 370, "Reconnect storm, s until all recovered", back, { value: TARGETS.reconnectRecoveredSec, label: `target ${TARGETS.reconnectRecoveredSec} s` }) : { svg: "", height: 0 };
  const H = Math.max(a.height, c.height + d.height + e.height, 300) + 60 + 14 * Math.max(2, r.latency.length);
  const title = `Gateway benchmark${r.meta.quick ? " (quick)" : ""}: ${r.meta.startedAt.slice(0, 19)}Z, commit ${r.meta.commit}, ${r.meta.cpus} CPUs, lost deliveries: ${r.lost}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(10, 20, title, `font-size="14" font-weight="700"`),
    a.svg,
    cdf(490, 40, 400, Math.max(260, H - 60 - 14 * Math.max(2, r.latency.length)), r),
    c.svg,
    d.svg,
    e.svg,
    "</svg>",
    "",
  ].join("\n");
}
