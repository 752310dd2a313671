import type { TestNats } from "@rt/testkit";
import type { WorkerPool } from "./pool.ts";
import type { Progress } from "./progress.ts";

/** How big each scenario is: the full run (about 20 minutes) and `--quick` (CI, about 2 minutes in all). */
export interface Plan {
  /**
   * The Go peer's arms (fan-out at `fanout.peer`, idle beside the baselines, the connect storm). Off
   * in --quick: a fresh CI machine would spend about a minute building it and must install Go first.
   */
  goPeer: boolean;
  fanout: {
    /** Room sizes; each is measured against raw Bun, and against the other targets the lists below put at it. */
    members: number[];
    /** Of those sizes, the ones the targets (>= 0.8x raw Bun, >= 10x Node, >= 10x Socket.IO) are checked at, and Socket.IO + Redis (two processes) measured; the others are for information. */
    checked: number[];
    /** Of those sizes, the ones also measured with the room spread over two gateways. */
    scaleOut: number[];
    /** Of those sizes, the ones also measured through the client protocol (`chat:` subscribers, history on; with --no-history also `live:`, a namespace without history). */
    protocol: number[];
    /** Of those sizes, the ones also measured through `/chat/` on the gateway (one process) and against Node + ws; raw Bun is measured at every size. */
    legacy: number[];
    /** Of those sizes, the ones also measured against the NATS-hop and JetStream floors (one process each). */
    floors: number[];
    /** Of those sizes, the ones also measured against the Go peer (when `goPeer` is on). */
    peer: number[];
    /** Measured rounds per target, interleaved between targets; the best round counts. */
    rounds: number;
    durationMs: number;
    warmupMs: number;
    senders: number;
    payloadBytes: number;
  };
  idle: {
    cases: { sockets: number; gateways: number; workers: number; baselines: boolean }[];
    /** Wait after the last socket opened before reading memory (half of it after the first half opened). */
    settleMs: number;
  };
  /** Many rooms at once: `rooms` rooms of `members`, each spread over two gateways, every room active. */
  rooms: {
    rooms: number;
    members: number;
    /** Also the NATS-hop and JetStream floors (two processes each), beside the gateway and raw Bun. */
    floors: boolean;
    /** Messages in flight per room (a room's message is in flight until its sender and a member on the other process have it). */
    window: number;
    rounds: number;
    durationMs: number;
    warmupMs: number;
  };
  /** Publish-to-delivery latency in rooms over two gateways, open loop, at each rate over all rooms. */
  roomLatency: {
    rooms: number;
    members: number;
    /** Also the JetStream floor (two processes), the floor beside the target. */
    floor: boolean;
    /** Publications a second over all rooms. */
    rates: number[];
    durationMs: number;
  };
  latency: {
    /** Notifications per second. */
    rates: number[];
    durationMs: number;
    /** Users; each has one socket on each of the two gateways. */
    users: number;
  };
  monitor: {
    sockets: number;
    samples: number;
  };
  presence: {
    /** Members of the one room (`/chat/` sockets, spread over the gateways). */
    members: number;
    gateways: number;
    /** Calls of each kind. */
    calls: number;
  };
  replay: {
    /** Notifications a client misses while away. */
    missed: number;
    /** Measured rounds (after one warm-up), each a new user. */
    rounds: number;
  };
  codec: {
    /** Frames encoded and decoded per shape and encoding (after as many for warm-up). */
    iterations: number;
  };
  api: {
    durationMs: number;
    /** Concurrent senders of single requests (publish, one notification). */
    senders: number;
    batchSize: number;
    /** Concurrent batch senders. */
    batchSenders: number;
    /** Distinct users the notifications go to. */
    users: number;
  };
  /** Connect storm: clients (each its own user and HS256 token) connect and subscribe to one `chat:` channel on one gateway, as fast as they can. */
  connect: {
    clients: number;
    /** Client processes the clients are spread over. */
    workers: number;
    /** Clients of each process between their TCP connect and their subscribe reply at once. */
    concurrency: number;
  };
  /** Reconnect storm: clients of one room on gateway A (a few on B) while publications flow; A is killed and every client recovers on B. */
  reconnect: {
    clients: number;
    /** Clients on gateway B from the start (they see every publication without a reconnect). */
    onOther: number;
    workers: number;
    /** Publications a second into the room (the notifier's API), before, during and after the kill. */
    ratePerSec: number;
    /** Each client reconnects after a random delay of 0 to this many ms (the SDK's backoff spreads reconnects likewise). */
    jitterMs: number;
    /** ROOM_HISTORY_SIZE of both gateways: recovery needs what was published since each client's last offset kept. */
    historySize: number;
    /** How A stops, one round each: SIGKILL (sockets cut) and SIGTERM (close 3001 from a graceful stop). */
    signals: ("SIGKILL" | "SIGTERM")[];
    /** Publishing before the kill, and after the last client recovered. */
    beforeMs: number;
    afterMs: number;
    /** Give up waiting for recoveries after this long. */
    timeoutMs: number;
  };
}

export const FULL: Plan = {
  goPeer: true,
  replay: { missed: 1000, rounds: 5 },
  fanout: {
    members: [10, 1000, 10_000],
    checked: [1000, 10_000],
    scaleOut: [1000, 10_000],
    protocol: [10, 1000, 10_000],
    legacy: [10, 1000, 10_000],
    floors: [10, 1000, 10_000],
    peer: [10, 1000, 10_000],
    rounds: 3,
    durationMs: 4000,
    warmupMs: 1000,
    senders: 4,
    payloadBytes: 32,
  },
  rooms: { rooms: 1000, members: 10, floors: true, window: 4, rounds: 3, durationMs: 4000, warmupMs: 1000 },
  roomLatency: { rooms: 1000, members: 10, floor: true, rates: [1000, 10_000], durationMs: 5000 },
  idle: {
    cases: [
      { sockets: 10_000, gateways: 1, workers: 2, baselines: true },
      { sockets: 50_000, gateways: 4, workers: 4, baselines: false },
    ],
    // JSC frees what the connects left behind (parsed commands, replies, promises) on its own within
    // seconds of the last one: at 3 s the client protocol arm still carried it (4.07 KB against 3.31 at 12 s, 2026-11-26).
    settleMs: 10_000,
  },
  latency: { rates: [100, 200, 1000], durationMs: 10_000, users: 200 },
  monitor: { sockets: 10_000, samples: 10 },
  presence: { members: 10_000, gateways: 2, calls: 50 },
  codec: { iterations: 200_000 },
  api: { durationMs: 5000, senders: 16, batchSize: 1000, batchSenders: 4, users: 2000 },
  connect: { clients: 10_000, workers: 2, concurrency: 256 },
  reconnect: { clients: 5000, onOther: 50, workers: 2, ratePerSec: 200, jitterMs: 500, historySize: 2000, signals: ["SIGKILL", "SIGTERM"], beforeMs: 2000, afterMs: 1000, timeoutMs: 20_000 },
};

export const QUICK: Plan = {
  goPeer: false,
  replay: { missed: 1000, rounds: 2 },
  fanout: { members: [10, 1000], checked: [1000], scaleOut: [1000], protocol: [10, 1000], legacy: [1000], floors: [10], peer: [], rounds: 1, durationMs: 1500, warmupMs: 500, senders: 4, payloadBytes: 32 },
  rooms: { rooms: 100, members: 10, floors: false, window: 4, rounds: 1, durationMs: 1500, warmupMs: 500 },
  roomLatency: { rooms: 100, members: 10, floor: false, rates: [1000], durationMs: 2000 },
  // One gateway: 2,000 sockets over two would be mostly each process's first-connection allocations.
  idle: { cases: [{ sockets: 2000, gateways: 1, workers: 2, baselines: true }], settleMs: 3000 },
  latency: { rates: [100, 1000], durationMs: 2500, users: 50 },
  monitor: { sockets: 1000, samples: 3 },
  presence: { members: 1000, gateways: 2, calls: 10 },
  codec: { iterations: 20_000 },
  api: { durationMs: 1500, senders: 16, batchSize: 1000, batchSenders: 2, users: 500 },
  connect: { clients: 1000, workers: 2, concurrency: 64 },
  reconnect: { clients: 1000, onOther: 10, workers: 1, ratePerSec: 200, jitterMs: 500, historySize: 2000, signals: ["SIGKILL", "SIGTERM"], beforeMs: 1000, afterMs: 500, timeoutMs: 10_000 },
};

/** What every scenario gets. */
export interface Ctx {
  plan: Plan;
  quick: boolean;
  /** --no-history: also measure `live:`, a namespace without history from a CHANNELS_FILE (skipped where the gateway has no such namespace). */
  noHistory: boolean;
  /** nats-server's monitoring endpoint (http://host:port), for its subscription count. */
  natsMonitor: string;
  nats: TestNats;
  pool: WorkerPool;
  progress: Progress;
}

/**
 * Messages in flight (sent, not yet received by every pace socket), the same for every target.
 * Measured on 2026-11-26 at 1,000 and 10,000 members, 32 against 256 in flight: every target did
 * as well or better at 256 (raw Bun 6.46M/s against 6.71M at 1,000, 3.91M against 3.45M at
 * 10,000; the gateway's rooms 5.5M against 4.4M and 3.46M against 3.10M), and the paths that take
 * the NATS hop before anyone gets a message (a room over two gateways, the client protocol, whose
 * publications come back from the ROOMS stream) need it: at 32 they sat partly idle waiting for
 * the round trip. An earlier session's choice of 32 (fewer stalls on full socket buffers) no longer
 * held on this machine.
 */
export const WINDOW = 256;

/** Splits `total` into `parts` near-equal whole numbers. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}
