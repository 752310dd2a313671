import { round } from "../lib/stats.ts";
import type { BenchResults, Check, ConnectStormResult, FanoutResult, RoomLatencyResult, RoomsResult } from "./types.ts";

/** The targets. */
export const TARGETS = {
  vsRawBun: 0.8,
  vsNode: 10,
  /** The client protocol's fan-out (`chat:` subscribers, history on) against raw Bun, checked at one room size. */
  protocolVsRawBun: 0.8,
  protocolVsRawBunAtMembers: 1000,
  /** The client protocol's fan-out against Socket.IO + Redis (two processes), at every checked size. */
  protocolVsSocketIo: 10,
  idleKbPerSocket: 4,
  /** Connect storm: clients connected (JWT) and subscribed a second, one gateway. */
  connectPerSec: 5000,
  /** Reconnect storm: seconds from stopping a gateway until all its clients recovered on another. */
  reconnectRecoveredSec: 5,
  p99Ms: 10,
  p99AtRate: 1000,
  /** The notifier's API: publications a second over HTTP (16 senders), notifications a second through batches. */
  apiPublishPerSec: 10_000,
  apiBatchPerSec: 10_000,
  /** 1,000 missed notifications recovered when a client comes back: the slowest round, ms. */
  replayMs: 100,
  /** Small rooms (the per-message cost), checked at this many members: */
  smallRoomMembers: 10,
  /** `chat` (history) through the client protocol against the JetStream floor (raw Bun rooms storing every message in a stream, fanned out from its RePublish). */
  protocolVsJetStreamFloor: 1.0,
  /** A namespace without history against the NATS-hop floor (raw Bun rooms relaying every message over core NATS). */
  noHistoryVsNatsFloor: 1.0,
  /** `chat` against the Go centrifuge library (both with history), deliveries/s, at every size measured. */
  protocolVsGoPeer: 2,
  /** Publish-to-delivery p99 in 10-member rooms over two gateways, at this many publications a second over all rooms. */
  roomP99Ms: 10,
  roomP99AtRate: 10_000,
} as const;

function find(r: BenchResults, target: string, members: number, processes = 1): FanoutResult | undefined {
  return r.fanout.find((f) => f.target === target && f.members === members && f.processes === processes && !f.error && f.rounds.length > 0);
}

function rooms(r: BenchResults, target: string): RoomsResult | undefined {
  return r.rooms?.find((x) => x.target === target && !x.error && x.rounds.length > 0);
}

function roomLatency(r: BenchResults, target: string, rate: number): RoomLatencyResult | undefined {
  return r.roomLatency?.find((x) => x.target === target && x.ratePerSec === rate && !x.error && x.latencyMs.count > 0);
}

function storm(r: BenchResults, target: ConnectStormResult["target"]): ConnectStormResult | undefined {
  return r.connect?.find((x) => (x.target ?? "gateway") === target && !x.error);
}

function ratio(a: number | undefined, b: number | undefined): number | null {
  return a !== undefined && b !== undefined && b > 0 ? round(a / b, 3) : null;
}

/** Fan-out ratios taken round by round: [name, target, its processes, against, its processes]. */
const ROUND_PAIRS: [string, string, number, string, number][] = [
  ["gateway_vs_raw_bun", "gateway", 1, "raw-bun", 1],
  ["gateway_vs_node_ws", "gateway", 1, "node-ws", 1],
  ["protocol_vs_raw_bun", "gateway-protocol", 1, "raw-bun", 1],
  ["protocol_vs_socketio", "gateway-protocol", 1, "socketio", 2],
  ["protocol_vs_jetstream_floor", "gateway-protocol", 1, "jetstream-floor", 1],
  ["protocol_vs_centrifuge_go", "gateway-protocol", 1, "centrifuge-go", 1],
  ["nohistory_vs_nats_floor", "gateway-nohistory", 1, "nats-floor", 1],
];

/**
 * Fan-out ratios round by round: round k of one target over round k of the other. The rounds
 * alternate between a size's targets, so each pair ran within seconds of each other; how far the
 * rounds' ratios spread says how much a busy machine moved the best-round ratio.
 */
export function roundRatios(r: BenchResults): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const m of [...new Set(r.fanout.map((f) => f.members))]) {
    for (const [name, a, ap, b, bp] of ROUND_PAIRS) {
      const v = perRound(find(r, a, m, ap), find(r, b, m, bp));
      if (v) out[`fanout_${m}_${name}`] = v;
    }
  }
  return out;
}

/** gateway / raw Bun, gateway / Node, two gateways / one, the client protocol / raw Bun and / Socket.IO, and idle KB per socket, keyed by name. */
export function ratios(r: BenchResults): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const m of [...new Set(r.fanout.map((f) => f.members))]) {
    const gw = find(r, "gateway", m);
    const raw = find(r, "raw-bun", m);
    const node = find(r, "node-ws", m);
    const two = find(r, "gateway", m, 2);
    // `/chat/` on one gateway and Node + ws are measured at some sizes only (plan.fanout.legacy).
    const legacy = r.fanout.some((f) => f.target === "gateway" && f.members === m && f.processes === 1);
    if (legacy) {
      out[`fanout_${m}_gateway_vs_raw_bun`] = ratio(gw?.deliveriesPerSec, raw?.deliveriesPerSec);
      out[`fanout_${m}_gateway_vs_node_ws`] = ratio(gw?.deliveriesPerSec, node?.deliveriesPerSec);
      out[`fanout_${m}_per_cpu_gateway_vs_raw_bun`] = ratio(gw?.deliveriesPerCpuSec, raw?.deliveriesPerCpuSec);
      out[`fanout_${m}_per_cpu_gateway_vs_node_ws`] = ratio(gw?.deliveriesPerCpuSec, node?.deliveriesPerCpuSec);
    }
    if (two) out[`scaleout_${m}_two_gateways_vs_one`] = ratio(two.deliveriesPerSec, gw?.deliveriesPerSec);
    const proto = find(r, "gateway-protocol", m);
    if (proto) {
      out[`fanout_${m}_protocol_vs_raw_bun`] = ratio(proto.deliveriesPerSec, raw?.deliveriesPerSec);
      if (legacy) out[`fanout_${m}_protocol_vs_legacy_room`] = ratio(proto.deliveriesPerSec, gw?.deliveriesPerSec);
    }
    const sio = find(r, "socketio", m, 2);
    if (sio) {
      out[`fanout_${m}_protocol_vs_socketio`] = ratio(proto?.deliveriesPerSec, sio.deliveriesPerSec);
      out[`fanout_${m}_per_cpu_protocol_vs_socketio`] = ratio(proto?.deliveriesPerCpuSec, sio.deliveriesPerCpuSec);
      out[`fanout_${m}_gateway_vs_socketio`] = ratio(gw?.deliveriesPerSec, sio.deliveriesPerSec);
    }
    const hop = find(r, "nats-floor", m);
    const js = find(r, "jetstream-floor", m);
    const go = find(r, "centrifuge-go", m);
    const live = find(r, "gateway-nohistory", m);
    if (hop) out[`fanout_${m}_nats_floor_vs_raw_bun`] = ratio(hop.deliveriesPerSec, raw?.deliveriesPerSec);
    if (js) {
      out[`fanout_${m}_jetstream_floor_vs_raw_bun`] = ratio(js.deliveriesPerSec, raw?.deliveriesPerSec);
      out[`fanout_${m}_protocol_vs_jetstream_floor`] = ratio(proto?.deliveriesPerSec, js.deliveriesPerSec);
    }
    if (go) {
      out[`fanout_${m}_protocol_vs_centrifuge_go`] = ratio(proto?.deliveriesPerSec, go.deliveriesPerSec);
      out[`fanout_${m}_per_cpu_protocol_vs_centrifuge_go`] = ratio(proto?.deliveriesPerCpuSec, go.deliveriesPerCpuSec);
      out[`fanout_${m}_centrifuge_go_vs_raw_bun`] = ratio(go.deliveriesPerSec, raw?.deliveriesPerSec);
    }
    if (live) out[`fanout_${m}_nohistory_vs_nats_floor`] = ratio(live.deliveriesPerSec, hop?.deliveriesPerSec);
  }
  const many = r.rooms?.[0];
  if (many) {
    const key = `rooms_${many.rooms}x${many.members}`;
    const gw = rooms(r, "gateway-protocol");
    out[`${key}_protocol_vs_raw_bun`] = ratio(gw?.deliveriesPerSec, rooms(r, "raw-bun")?.deliveriesPerSec);
    out[`${key}_protocol_vs_jetstream_floor`] = ratio(gw?.deliveriesPerSec, rooms(r, "jetstream-floor")?.deliveriesPerSec);
    out[`${key}_nats_floor_vs_raw_bun`] = ratio(rooms(r, "nats-floor")?.deliveriesPerSec, rooms(r, "raw-bun")?.deliveriesPerSec);
    if (gw) {
      out[`${key}_protocol_kb_per_room`] = gw.kbPerRoom;
      out[`${key}_protocol_nats_kb_per_room`] = gw.natsKbPerRoom;
      out[`${key}_protocol_nats_subscriptions_per_room`] = gw.natsSubsPerRoom;
    }
  }
  for (const x of r.roomLatency ?? []) {
    if (x.error || x.latencyMs.count === 0) continue;
    out[`room_latency_${x.ratePerSec}_${x.target}_p99_ms`] = round(x.latencyMs.p99, 2);
  }
  for (const i of r.idle) if (!i.error) out[`idle_${i.sockets}_${i.target}_kb_per_socket`] = i.kbPerSocket;
  for (const n of [...new Set(r.idle.map((i) => i.sockets))]) {
    const go = r.idle.find((i) => i.sockets === n && i.target === "centrifuge-go" && !i.error);
    const proto = r.idle.find((i) => i.sockets === n && i.target === "gateway-protocol" && !i.error);
    if (go && proto) out[`idle_${n}_protocol_vs_centrifuge_go_kb`] = ratio(proto.kbPerSocket, go.kbPerSocket);
  }
  const gwStorm = storm(r, "gateway");
  if (storm(r, "centrifuge-go")) out.connect_gateway_vs_centrifuge_go = ratio(gwStorm?.connectionsPerSec, storm(r, "centrifuge-go")?.connectionsPerSec);
  if (storm(r, "raw-bun")) out.connect_gateway_vs_raw_bun_floor = ratio(gwStorm?.connectionsPerSec, storm(r, "raw-bun")?.connectionsPerSec);
  const single = r.api?.find((a) => a.arm === "notify-single" && !a.error);
  const batch = r.api?.find((a) => a.arm === "notify-batch" && !a.error);
  if (single && batch) out.api_batch_vs_single_notifications = ratio(batch.itemsPerSec, single.itemsPerSec);
  for (const p of r.presence ?? []) {
    if (p.error) continue;
    out[`presence_${p.members}_p50_ms`] = Math.round(p.listMs.p50 * 100) / 100;
    out[`presence_stats_${p.members}_p50_ms`] = Math.round(p.statsMs.p50 * 100) / 100;
  }
  (r.codec ?? []).forEach((c, i) => {
    out[`codec_${i}_protobuf_vs_json_bytes`] = ratio(c.protobufBytes, c.jsonBytes);
    out[`codec_${i}_protobuf_vs_json_client_decode`] = ratio(c.protobufDecodeNs, c.jsonDecodeNs);
  });
  return out;
}

/** Round k of `a` over round k of `b`, for every round both have; undefined when either is missing. */
function perRound(a: FanoutResult | undefined, b: FanoutResult | undefined): number[] | undefined {
  if (!a || !b) return undefined;
  const n = Math.min(a.rounds.length, b.rounds.length);
  return Array.from({ length: n }, (_, i) => round(a.rounds[i]!.deliveriesPerSec / Math.max(1, b.rounds[i]!.deliveriesPerSec), 3));
}

/** PASS/FAIL per target; fan-out at the room sizes in `checkedSizes`. */
export function checks(r: BenchResults, checkedSizes: number[]): Check[] {
  const out: Check[] = [];
  for (const m of [...new Set(r.fanout.map((f) => f.members))].filter((x) => checkedSizes.includes(x))) {
    const gw = find(r, "gateway", m);
    const raw = find(r, "raw-bun", m);
    const node = find(r, "node-ws", m);
    const sio = find(r, "socketio", m, 2);
    const vsRaw = ratio(gw?.deliveriesPerSec, raw?.deliveriesPerSec);
    const vsNode = ratio(gw?.deliveriesPerSec, node?.deliveriesPerSec);
    const rounds = (a: FanoutResult | undefined, b: FanoutResult | undefined) => {
      const v = perRound(a, b);
      return v ? { rounds: v } : {};
    };
    out.push({ name: `room fan-out ${m} members: gateway / raw Bun deliveries/s`, value: vsRaw, unit: "x", op: ">=", threshold: TARGETS.vsRawBun, pass: vsRaw !== null && vsRaw >= TARGETS.vsRawBun, ...rounds(gw, raw) });
    out.push({ name: `room fan-out ${m} members: gateway / Node + ws deliveries/s`, value: vsNode, unit: "x", op: ">=", threshold: TARGETS.vsNode, pass: vsNode !== null && vsNode >= TARGETS.vsNode, ...rounds(gw, node) });
    const proto = find(r, "gateway-protocol", m);
    if (m === TARGETS.protocolVsRawBunAtMembers) {
      const v = ratio(proto?.deliveriesPerSec, raw?.deliveriesPerSec);
      out.push({ name: `client protocol fan-out ${m} members: gateway / raw Bun deliveries/s`, value: v, unit: "x", op: ">=", threshold: TARGETS.protocolVsRawBun, pass: v !== null && v >= TARGETS.protocolVsRawBun, ...rounds(proto, raw) });
    }
    const vsSio = ratio(proto?.deliveriesPerSec, sio?.deliveriesPerSec);
    out.push({ name: `client protocol fan-out ${m} members: gateway / Socket.IO + Redis (2 processes) deliveries/s`, value: vsSio, unit: "x", op: ">=", threshold: TARGETS.protocolVsSocketIo, pass: vsSio !== null && vsSio >= TARGETS.protocolVsSocketIo, ...rounds(proto, sio) });
  }
  // Small rooms against the floors, and `chat` against the Go peer wherever it was measured.
  const small = TARGETS.smallRoomMembers;
  const ratioCheck = (name: string, a: FanoutResult | undefined, b: FanoutResult | undefined, threshold: number): Check => {
    const v = ratio(a?.deliveriesPerSec, b?.deliveriesPerSec);
    const rounds = perRound(a, b);
    return { name, value: v, unit: "x", op: ">=", threshold, pass: v !== null && v >= threshold, ...(rounds ? { rounds } : {}) };
  };
  if (r.fanout.some((f) => f.members === small && f.target === "jetstream-floor")) {
    out.push(ratioCheck(`${small}-member room: client protocol \`chat\` (history) / JetStream floor deliveries/s`, find(r, "gateway-protocol", small), find(r, "jetstream-floor", small), TARGETS.protocolVsJetStreamFloor));
  }
  if (r.fanout.some((f) => f.members === small && f.target === "gateway-nohistory" && !f.skipped)) {
    out.push(ratioCheck(`${small}-member room: client protocol, a namespace without history / NATS-hop floor deliveries/s`, find(r, "gateway-nohistory", small), find(r, "nats-floor", small), TARGETS.noHistoryVsNatsFloor));
  }
  for (const m of [...new Set(r.fanout.filter((f) => f.target === "centrifuge-go").map((f) => f.members))]) {
    out.push(ratioCheck(`${m}-member room: client protocol \`chat\` / the Go centrifuge library (both with history) deliveries/s`, find(r, "gateway-protocol", m), find(r, "centrifuge-go", m), TARGETS.protocolVsGoPeer));
  }
  if (r.roomLatency?.some((x) => x.target === "gateway-protocol" && x.ratePerSec === TARGETS.roomP99AtRate)) {
    const x = roomLatency(r, "gateway-protocol", TARGETS.roomP99AtRate);
    const f = roomLatency(r, "jetstream-floor", TARGETS.roomP99AtRate);
    const v = x ? round(x.latencyMs.p99, 2) : null;
    const many = r.roomLatency.find((y) => y.target === "gateway-protocol")!;
    out.push({
      name: `publish-to-delivery p99 in ${many.members}-member rooms over 2 gateways, ${TARGETS.roomP99AtRate}/s over ${many.rooms} rooms`,
      value: v, unit: "ms", op: "<=", threshold: TARGETS.roomP99Ms, pass: v !== null && v <= TARGETS.roomP99Ms && x!.lost === 0,
      floor: { value: f ? round(f.latencyMs.p99, 2) : null, what: "JetStream floor, same rooms and rate" },
      ...(x && x.lost > 0 ? { note: `${x.lost} lost` } : {}),
    });
  }
  for (const i of r.idle.filter((x) => x.target === "gateway" || x.target === "gateway-protocol")) {
    const v = i.error ? null : i.kbPerSocket;
    const what = i.target === "gateway" ? "`/chat/` sockets" : "client protocol connections with one subscription";
    out.push({ name: `idle memory, ${i.sockets} ${what} on ${i.processes} gateway(s)`, value: v, unit: "KB/socket", op: "<=", threshold: TARGETS.idleKbPerSocket, pass: v !== null && v <= TARGETS.idleKbPerSocket });
  }
  const floorLat = r.latency.find((l) => l.via === "nats-floor" && l.ratePerSec === TARGETS.p99AtRate && !l.error && l.latencyMs.count > 0);
  const latencyFloor = { value: floorLat ? round(floorLat.latencyMs.p99, 2) : null, what: "NATS publish → raw Bun subscriber → WebSocket write, same rate and sockets" };
  for (const via of ["protocol", "notifications"] as const) {
    if (!r.latency.some((l) => (l.via ?? "notifications") === via)) continue;
    const lat = r.latency.find((l) => (l.via ?? "notifications") === via && l.ratePerSec === TARGETS.p99AtRate && !l.error && l.latencyMs.count > 0);
    const p99 = lat ? round(lat.latencyMs.p99, 2) : null;
    const to = via === "protocol" ? "client protocol connections (#user)" : "/notifications sockets";
    out.push({ name: `notification p99 at ${TARGETS.p99AtRate}/s, POST to ${to}`, value: p99, unit: "ms", op: "<=", threshold: TARGETS.p99Ms, pass: p99 !== null && p99 <= TARGETS.p99Ms, floor: latencyFloor });
  }
  for (const [arm, name, threshold] of [["publish", "API publish over HTTP, 16 senders", TARGETS.apiPublishPerSec], ["notify-batch", "notifications through batches of 1000", TARGETS.apiBatchPerSec]] as const) {
    if (!r.api?.length) break;
    const a = r.api.find((x) => x.arm === arm && !x.error);
    const v = a ? a.itemsPerSec : null;
    out.push({ name: `${name} (stored and acknowledged per second)`, value: v, unit: "/s", op: ">=", threshold, pass: v !== null && v >= threshold });
  }
  const rawStorm = storm(r, "raw-bun");
  for (const c of (r.connect ?? []).filter((x) => (x.target ?? "gateway") === "gateway")) {
    const v = c.error ? null : c.connectionsPerSec;
    const note = c.failed > 0 ? `${c.failed} clients failed` : undefined;
    out.push({
      name: `connect storm, ${c.clients} clients (JWT, connect + subscribe), one gateway`, value: v, unit: "/s", op: ">=", threshold: TARGETS.connectPerSec, pass: v !== null && v >= TARGETS.connectPerSec && c.failed === 0,
      ...(note ? { note } : {}),
      ...(r.connect.some((x) => x.target === "raw-bun") ? { floor: { value: rawStorm ? rawStorm.connectionsPerSec : null, what: "raw Bun.serve accept and upgrade, same clients" } } : {}),
    });
  }
  for (const x of r.reconnect ?? []) {
    const v = x.error || x.allRecoveredMs === null ? null : round(x.allRecoveredMs / 1000, 2);
    const bad = [x.recovered < x.clients ? `${x.clients - x.recovered} not recovered` : "", x.duplicates > 0 ? `${x.duplicates} duplicates` : ""].filter(Boolean).join(", ");
    out.push({ name: `reconnect storm (${x.signal}): all ${x.clients} clients recovered on the other gateway`, value: v, unit: "s", op: "<=", threshold: TARGETS.reconnectRecoveredSec, pass: v !== null && v <= TARGETS.reconnectRecoveredSec && bad === "", ...(bad ? { note: bad } : {}) });
  }
  for (const x of r.replay ?? []) {
    const v = x.error || x.ms.count === 0 ? null : round(x.ms.max, 1);
    const bad = [x.recovered < x.ms.count ? `${x.ms.count - x.recovered} rounds not recovered` : "", x.duplicates > 0 ? `${x.duplicates} duplicates` : ""].filter(Boolean).join(", ");
    const how = x.via === "protocol" ? "client protocol connect with recover" : "/notifications?since=";
    out.push({ name: `replay of ${x.missed} missed notifications (${how}), slowest of ${x.ms.count} rounds`, value: v, unit: "ms", op: "<=", threshold: TARGETS.replayMs, pass: v !== null && v <= TARGETS.replayMs && bad === "", ...(bad ? { note: bad } : {}) });
  }
  out.push({ name: "no delivery lost (all scenarios)", value: r.lost, unit: "lost", op: "==", threshold: 0, pass: r.lost === 0 && r.errors.length === 0, ...(r.errors.length ? { note: `${r.errors.length} scenario error(s)` } : {}) });
  return out;
}
