import type { TargetName } from "../lib/targets.ts";
import type { Distribution } from "../lib/stats.ts";
import type { TransportsResult } from "./transports.ts";

/** One measured pump through one target. */
export interface FanoutRound {
  sent: number;
  expected: number;
  delivered: number;
  lost: number;
  /** First send to last delivery. */
  durationMs: number;
  deliveriesPerSec: number;
  /** WebSocket frames received per second (fewer than deliveries where a frame carries several pushes: the client protocol). */
  framesPerSec: number;
  /** Server processes' CPU over the round, percent of one core (summed over gateways). */
  serverCpuPercent: number;
  /** nats-server's CPU over the round, percent of one core (fan-out: shared by every arm's room, but only this arm runs; absent where not measured). */
  natsCpuPercent?: number;
  clientCpuPercent: number;
  unexpectedCloses: number;
  closeCodes: Record<string, number>;
  stalled: boolean;
}

/** Room fan-out (and scale-out) through one target at one room size. */
export interface FanoutResult {
  target: TargetName;
  members: number;
  /** Server processes the room is spread over. */
  processes: number;
  senders: number;
  window: number;
  payloadBytes: number;
  rounds: FanoutRound[];
  /** The best round's rate (the least disturbed by anything else on the machine). */
  deliveriesPerSec: number;
  /** WebSocket frames per second in the best round. */
  framesPerSec: number;
  medianDeliveriesPerSec: number;
  /** Deliveries per second of server CPU, best round. */
  deliveriesPerCpuSec: number;
  serverCpuPercent: number;
  /** nats-server's CPU in the best round (percent of one core). */
  natsCpuPercent?: number;
  /** Lost in the warm-up round (not measured, but a loss all the same). */
  warmupLost: number;
  /** Lost in all rounds, warm-up included. */
  lost: number;
  error?: string;
  /** Why the arm was not measured, when that is no fault (a gateway without the namespace it needs). */
  skipped?: string;
}

/** Many rooms at once through one target: deliveries a second, and what the active rooms cost in memory and NATS interest. */
export interface RoomsResult {
  target: TargetName;
  rooms: number;
  members: number;
  /** Server processes each room is spread over. */
  processes: number;
  /** Messages in flight per room. */
  window: number;
  rounds: FanoutRound[];
  /** The best round's rate over all rooms. */
  deliveriesPerSec: number;
  framesPerSec: number;
  medianDeliveriesPerSec: number;
  serverCpuPercent: number;
  /** nats-server's CPU, the highest of the measured rounds, percent of one core (about 0 for a target without NATS). */
  natsCpuPercent: number;
  /** Server processes' RSS before the members opened and after the last round. */
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** (after - before) / rooms, KiB: each room's members (their connections) included. */
  kbPerRoom: number;
  natsRssBeforeBytes: number;
  natsRssAfterBytes: number;
  natsKbPerRoom: number;
  /** nats-server's subscriptions (its monitoring `/subsz`) before the members opened and with every room open. */
  natsSubsBefore: number;
  natsSubsAfter: number;
  /** Extra NATS subscriptions per active room (over all server processes). */
  natsSubsPerRoom: number;
  warmupLost: number;
  lost: number;
  error?: string;
}

/** Publish-to-delivery latency in rooms spread over two server processes, open loop at a fixed rate over all rooms. */
export interface RoomLatencyResult {
  target: TargetName;
  rooms: number;
  members: number;
  processes: number;
  ratePerSec: number;
  durationMs: number;
  sent: number;
  /** Sends more than 5 ms behind their due time (the load generator could not keep the rate). */
  lateSends: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  /** Members whose every delivery is timed: one on each process per room (the others only count). */
  probesPerRoom: number;
  latencyMs: Distribution;
  serverCpuPercent: number;
  natsCpuPercent: number;
  error?: string;
}

/** Idle sockets: memory per socket. */
export interface IdleResult {
  target: TargetName;
  sockets: number;
  processes: number;
  clientWorkers: number;
  opened: number;
  failed: number;
  rssBeforeBytes: number;
  /** RSS with the first half of the sockets open. */
  rssMidBytes: number;
  rssAfterBytes: number;
  /** (RSS after - RSS before) / sockets, in KiB: the figure the target is about. */
  kbPerSocket: number;
  /** (RSS after - RSS mid) / sockets of the second half: the cost of one more socket, without start-up allocations. */
  marginalKbPerSocket: number;
  /** Server CPU while the sockets sat idle, percent of one core. */
  idleCpuPercent: number;
  unexpectedCloses: number;
  lost: number;
  error?: string;
}

/** Notification latency: notifier POST to socket receive. */
export interface LatencyResult {
  /**
   * `/notifications` sockets (one per user on each of two gateways) or client protocol connections (one per user, the inbox `#user`);
   * `nats-floor`: the floor beside them, a bare NATS publish to the user's subject, a subscriber in raw Bun, a WebSocket write (one socket per user on each of two processes).
   */
  via: "notifications" | "protocol" | "nats-floor";
  ratePerSec: number;
  durationMs: number;
  users: number;
  gateways: number;
  socketsPerUser: number;
  posted: number;
  accepted: number;
  failedPosts: number;
  /** POSTs the sender could not start on time (the notifier was too slow to keep the rate). */
  achievedRatePerSec: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  latencyMs: Distribution;
  /** Time for the POST itself (202 back): the notifier's share, storing in JetStream included. */
  postMs: Distribution;
  /** Receive time minus the 202's arrival, per delivery: roughly the live path (NATS, gateway, socket) after the store; negative when the socket beat the HTTP answer. */
  afterAckMs: Distribution;
  error?: string;
}

/** Replay: `missed` notifications recovered when a client comes back (client protocol or `/notifications?since=`). */
export interface ReplayResult {
  via: "protocol" | "notifications";
  missed: number;
  rounds: number;
  /** Opening the socket to the last missed notification received, per round. */
  ms: Distribution;
  /** Rounds whose connect reply said `recovered: true` (protocol; `since` always is). */
  recovered: number;
  lost: number;
  duplicates: number;
  error?: string;
}

/** Monitor fan-out: one sample to every monitor socket. */
export interface MonitorResult {
  sockets: number;
  samples: number;
  expected: number;
  delivered: number;
  lost: number;
  /** Per sample: NATS publish to the last socket's receipt. */
  lastMs: number[];
  /** Per sample: NATS publish to the first socket's receipt. */
  firstMs: number[];
  p50LastMs: number;
  maxLastMs: number;
  /** Baseline: one message to a raw Bun room of the same size, send to the last member's receipt. */
  rawBunLastMs: number[];
  rawBunP50LastMs: number;
  error?: string;
}

/** What a presence call costs: one room spread over gateways, asked from one of them. */
export interface PresenceResult {
  members: number;
  gateways: number;
  calls: number;
  /** presence (every member listed) and presence_stats (counts): command to reply, ms. */
  listMs: Distribution;
  statsMs: Distribution;
  /** Reply frame sizes (JSON). */
  listReplyBytes: number;
  statsReplyBytes: number;
  /** CPU of all gateways per call, ms. */
  listCpuMs: number;
  statsCpuMs: number;
  lost: number;
  error?: string;
}

/** Fossil deltas on a document that changes a little each time: bytes per publication (averages), and one delta's cost. */
export interface DeltaResult {
  /** The document, bytes of JSON. */
  docBytes: number;
  publications: number;
  /** Per publication: its data whole, and as a delta. */
  dataBytes: { whole: number; delta: number };
  /** Per publication: a plain subscriber's push frame, and a delta subscriber's. */
  jsonFrameBytes: { plain: number; delta: number };
  protobufFrameBytes: { plain: number; delta: number };
  /** Bytes saved by deltas, percent: of the data, and of the push frames per encoding. */
  savedPct: { data: number; json: number; protobuf: number };
  /** One publication's delta with its UTF-8 encoding (once per channel), µs. */
  deltaMicros: { median: number; p99: number };
  /** The same on a document near the 64 KiB cap. */
  largeDocBytes: number;
  largeDeltaMicros: { median: number; p99: number };
  lost: number;
  error?: string;
}

/** One publication push in JSON and in Protobuf: bytes on the wire and CPU per publication. */
export interface CodecResult {
  shape: string;
  dataBytes: number;
  jsonBytes: number;
  protobufBytes: number;
  /** Server: building the push frame (once per publication per encoding), ns. */
  jsonEncodeNs: number;
  protobufEncodeNs: number;
  /** Client: reading the frame the way the SDK does, and then the data as JSON (the app's value), ns. */
  jsonDecodeNs: number;
  protobufDecodeNs: number;
  lost: number;
  error?: string;
}

/** The notifier's HTTP API under load: one arm of requests, `senders` at a time. */
export interface ApiResult {
  arm: "publish" | "notify-single" | "notify-batch";
  senders: number;
  /** Items per request (a batch's size; 1 otherwise). */
  itemsPerRequest: number;
  requests: number;
  /** Items stored and acknowledged (publications, notifications). */
  items: number;
  durationMs: number;
  itemsPerSec: number;
  /** Request latency, ms. */
  latencyMs: Distribution;
  errors: number;
  lost: number;
  /** The load generator: wrk (C), or the bench's own Bun client. */
  generator?: "wrk" | "bun";
  error?: string;
}

/**
 * Connect storm: clients connect (HS256 JWT each) and subscribe to one `chat:` channel on one server, as fast as they can.
 * `raw-bun` is the floor beside it: the WebSocket accept and upgrade alone (`Bun.serve`, `/chat/storm`, no token, no reply).
 */
export interface ConnectStormResult {
  /** `gateway`, the Go peer (`centrifuge-go`, its JSON protocol v1), or the raw Bun floor. */
  target: "gateway" | "centrifuge-go" | "raw-bun";
  clients: number;
  clientWorkers: number;
  /** Clients between TCP connect and subscribe reply at once, over all client processes. */
  concurrency: number;
  /** Clients whose subscribe reply arrived without error. */
  established: number;
  failed: number;
  /** Why clients failed (`error 101`, `close 3500`, `upgrade: ...`), retries included. */
  failures: Record<string, number>;
  /** First TCP connect to the last subscribe reply. */
  durationMs: number;
  /** established / duration. */
  connectionsPerSec: number;
  /** TCP connect to subscribe reply, per client. */
  connectMs: Distribution;
  /** The gateway's CPU over the storm, percent of one core, and CPU ms per connection. */
  serverCpuPercent: number;
  cpuMsPerConnection: number;
  clientCpuPercent: number;
  /** nats-server's CPU over the storm (each connect also subscribes the user's inbox subject and reads its position). */
  natsCpuPercent: number;
  lost: number;
  error?: string;
}

/** Reconnect storm: gateway A stops while its clients are subscribed to a room with history; they recover on gateway B. */
export interface ReconnectStormResult {
  signal: "SIGKILL" | "SIGTERM";
  /** Clients on A (each reconnects to B), and on B from the start. */
  clients: number;
  onOther: number;
  ratePerSec: number;
  jitterMs: number;
  historySize: number;
  /** The publisher's last acknowledged offset just before the signal: a client counts as recovered once it has everything up to it. */
  killOffset: number;
  /** The last offset published (the publisher stopped after every client recovered plus `afterMs`). */
  finalOffset: number;
  /** Clients on A that got `recovered: true` and every publication up to `killOffset`. */
  recovered: number;
  /** Subscribe replies with `recovered` false. */
  notRecovered: number;
  /** Signal to the last client recovered (null: not all did in time). */
  allRecoveredMs: number | null;
  /** Signal to each client's recovery. */
  recoveryMs: Distribution;
  reconnects: number;
  /** Close codes the clients saw (1006: cut; 3001: shutting down). */
  closeCodes: Record<string, number>;
  failures: Record<string, number>;
  /** Offsets a client never got (gaps, and what it lacked of `finalOffset` at the end), over all clients (those on B included). */
  missing: number;
  /** Of those: skipped between two offsets a client got (a recovery that left a hole, or `recovered: false`). */
  gaps: number;
  /** Of those: what clients still lacked of `finalOffset` at the end (a client that never came back lacks everything after its last). */
  behind: number;
  /** Offsets a client got twice. */
  duplicates: number;
  publishErrors: number;
  /** Gateway B's CPU, and nats-server's, from the signal to the last recovery (or the timeout), percent of one core. */
  serverCpuPercent: number;
  natsCpuPercent: number;
  lost: number;
  error?: string;
}

export interface Check {
  name: string;
  value: number | null;
  unit: string;
  op: ">=" | "<=" | "==";
  threshold: number;
  pass: boolean;
  note?: string;
  /** For a fan-out ratio: the ratio round by round (roundRatios), its run-to-run spread. */
  rounds?: number[];
  /** For a time target: the same measurement on a floor in the same run (what this machine gives at best), so a reader can tell the machine from the code. */
  floor?: { value: number | null; what: string };
}

export interface BenchResults {
  meta: {
    startedAt: string;
    quick: boolean;
    durationSec: number;
    bun: string;
    node: string;
    cpus: number;
    commit: string;
    note: string;
    /** /proc/loadavg (1, 5, 15 minutes) at the start and the end: other work on the machine skews the figures. */
    loadAvg: { start: number[]; end: number[] };
    /** Room sizes the fan-out targets are checked at. */
    checkedFanoutSizes: number[];
    /** The Go peer as measured (absent when its arms did not run). */
    goPeer?: { library: string; protocol: string; go: string; maxMessagesPerFrame: number };
  };
  fanout: FanoutResult[];
  rooms: RoomsResult[];
  roomLatency: RoomLatencyResult[];
  idle: IdleResult[];
  latency: LatencyResult[];
  monitor: MonitorResult[];
  presence: PresenceResult[];
  codec: CodecResult[];
  /** Absent in results written before deltas were measured. */
  delta?: DeltaResult[];
  /** Transports beside WebSocket (absent in results written before they were measured). */
  transports?: TransportsResult[];
  api: ApiResult[];
  connect: ConnectStormResult[];
  reconnect: ReconnectStormResult[];
  replay: ReplayResult[];
  ratios: Record<string, number | null>;
  /** Fan-out ratios round by round (roundRatios): their spread is the machine's noise. Absent in results written before it. */
  ratioRounds?: Record<string, number[]>;
  checks: Check[];
  /** Deliveries lost in all scenarios (expected minus received). */
  lost: number;
  /** Scenarios that crashed. */
  errors: string[];
}
