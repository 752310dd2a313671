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
}

/**
 * How a worker reads frames.
 * - `count`: parse frame headers only, skip payloads (the cheap byte-counting client).
 * - `notify`: also decode text payloads as notification frames and record latency from the send time in `body`.
 */
export type ReadMode = "count" | "notify";

export type Command =
  | { op: "open"; groups: OpenGroup[]; mode: ReadMode; concurrency: number }
  | { op: "reset" }
  | { op: "stats"; latencies?: boolean }
  | { op: "pump"; senders: number[]; paces: number[]; window: number; durationMs: number; payload: string }
  | { op: "closeAll" }
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
