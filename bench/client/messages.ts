/** What the bench orchestrator and its client worker processes say to each other over IPC. */

/** One group of sockets to open: `count` sockets to ws://host:port/path. */
export interface OpenGroup {
  host: string;
  port: number;
  path: string;
  count: number;
  /** A text frame each socket sends right after its upgrade (the client protocol's connect and subscribe). */
  handshake?: string;
  /** Count each line of a text frame as a message (client protocol frames batch several pushes, one per line). */
  countLines?: boolean;
  /** The Go centrifuge library's JSON protocol v1: count only push lines of text frames (`{"result":...`), not replies nor newlines. */
  v1?: boolean;
  /** Socket.IO over Engine.IO v4's WebSocket transport (`path` is then `/socket.io/?EIO=4&transport=websocket...`): connects to `/`, answers pings, counts only event packets (`42...`). */
  engineIo?: boolean;
  /** Per-socket tokens, `count` of them: socket k sends `handshake` with every `$TOKEN` replaced by `tokens[k]` (each client its own user). */
  tokens?: string[];
}

/**
 * How a worker reads frames.
 * - `count`: parse frame headers only, skip payloads (the cheap byte-counting client).
 * - `notify`: also decode text payloads as notification frames and record latency from the send time in `body`.
 * - `protocol`: client protocol sockets (JSON) whose handshake is a connect (id 1) and a subscribe (id 2): text frames
 *   are decoded only until the reply to id 2; the socket counts as open once that reply arrived without error
 *   (bench/client/session.ts), and is read as in `count` from then on.
 * - `track`: as `protocol`, then every text frame is scanned for `"offset":N` (publication offsets): per socket the last
 *   offset, gaps and repeats; with a reconnect plan, a socket the server closed connects again and recovers from there.
 */
export type ReadMode = "count" | "notify" | "protocol" | "track";

/**
 * What `track` sockets do when the server closes them: connect to host:port/path after a random
 * delay of 0 to `jitterMs` and subscribe to `channel` with `recover` from the last offset seen.
 */
export interface ReconnectPlan {
  host: string;
  port: number;
  path: string;
  channel: string;
  jitterMs: number;
  /** A session counts as recovered once its reply said `recovered: true` and it has every offset up to this one. */
  target: number;
  /** Attempts per session before it gives up (a refused upgrade, an error reply, a close before the reply). */
  maxAttempts: number;
}

/** `protocol` and `track` sessions of a worker; counters since the last `reset`, `sessions` and `ready` absolute. */
export interface SessionStats {
  sessions: number;
  /** Sessions whose subscribe reply arrived on their current connection. */
  ready: number;
  /** Wall-clock ms: the earliest connect started and the latest subscribe reply, since the last reset (0: none). */
  firstStartAt: number;
  lastReadyAt: number;
  /** Error replies and closes before the subscribe reply, by kind (`error 101`, `close 3500`, `upgrade`). */
  failures: Record<string, number>;
  /** track: reconnects started, recovered sessions, subscribe replies with `recovered` false (or another epoch). */
  reconnects: number;
  recovered: number;
  notRecovered: number;
  /** track: offsets skipped (a gap between two offsets a socket saw), offsets seen twice. */
  missing: number;
  duplicates: number;
  /** track: lowest and highest last offset over the sessions (0 when none). */
  minOffset: number;
  maxOffset: number;
  /** track, with `upTo`: offsets the sessions still lack up to `upTo`, summed. */
  short: number;
  /** With `times`: wall-clock ms each session recovered at, and connect-to-reply ms of each first connection. */
  recoveredAt?: number[];
  readyMs?: number[];
}

/** One room of a pump: its senders take turns; a message is in flight until every pace socket has it. */
export interface PumpLane {
  senders: number[];
  paces: number[];
  /** The text frame each sender sends (the room's publish command). */
  payload: string;
}

/**
 * One room of an open-loop send (`rate`): its senders take turns sending `before + <seq> + middle +
 * <wall-clock ms> + after`, seq counting from 1 in each room.
 */
export interface RateLane {
  senders: number[];
  before: string;
  middle: string;
  after: string;
}

export type Command =
  | { op: "open"; groups: OpenGroup[]; mode: ReadMode; concurrency: number }
  | { op: "reset" }
  | { op: "stats"; latencies?: boolean }
  /** Keeps `window` messages in flight in each lane (room) for `durationMs`. */
  | { op: "pump"; lanes: PumpLane[]; window: number; durationMs: number }
  /** Sends `ratePerSec` messages a second over all lanes, round-robin, for `durationMs`, whatever comes back. */
  | { op: "rate"; lanes: RateLane[]; ratePerSec: number; durationMs: number }
  | { op: "closeAll" }
  | { op: "sessions"; upTo?: number; times?: boolean }
  | { op: "reconnect"; plan: ReconnectPlan | null }
  | { op: "exit" };

/** A command as sent, with the id its reply carries. */
export type Request = Command & { id: number };

/** The reply to `open`. */
export interface OpenReply {
  /** Index of the first socket opened by this command (indices are per worker, in open order). */
  first: number;
  opened: number;
  failed: number;
  /** The first few failures, as text. */
  errors: string[];
  /** Wall-clock ms the first socket started connecting, and the last one that opened settled (0: none). */
  startedAt: number;
  settledAt: number;
}

/** Counters since the last `reset` (open/closed counts are absolute). */
export interface WorkerStats {
  /** Sockets open now (handshake done, not closed). */
  open: number;
  /** Messages received: data frames (text, binary), or their lines for sockets that count lines. */
  frames: number;
  /** WebSocket data frames received (one may carry several messages). */
  wsFrames: number;
  bytes: number;
  /** Wall-clock ms (performance.timeOrigin + now) of the first and last chunk that carried a frame. */
  firstAt: number;
  lastAt: number;
  /** Sockets closed by the server or the network, not by us. */
  unexpectedCloses: number;
  closeCodes: Record<string, number>;
  /** notify mode: frames that could not be parsed, frames whose seq did not grow. */
  decodeErrors: number;
  duplicates: number;
  /** notify mode, when asked: one latency (ms) per notification frame. */
  latencies?: number[];
  /** notify mode, when asked: the notification id and wall-clock receive time of each frame, in the order of `latencies`. */
  ids?: string[];
  at?: number[];
}

/** The reply to `rate`. */
export interface RateReply {
  sent: number;
  /** Wall-clock ms of the first send and of the last. */
  startAt: number;
  endAt: number;
  /** Sends later than their due time by more than 5 ms: the sender could not keep up. */
  late: number;
}

/** The reply to `pump`. */
export interface PumpReply {
  sent: number;
  /** Wall-clock ms of the first send and of the last. */
  startAt: number;
  endAt: number;
  /** True when the pace sockets stopped receiving (the run was cut short). */
  stalled: boolean;
}

export type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string };

/** Wall-clock ms with sub-millisecond resolution, comparable between processes on one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
