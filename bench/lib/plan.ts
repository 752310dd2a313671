import type { TestNats } from "@rt/testkit";
import type { WorkerPool } from "./pool.ts";
import type { Progress } from "./progress.ts";

/** How big each scenario is: the full run and `--quick` (CI, under 60 s in all). */
export interface Plan {
  fanout: {
    /** Room sizes; each is measured against gateway, raw-bun and node-ws. */
    members: number[];
    /** Of those sizes, the ones the targets (>= 0.8x raw Bun, >= 10x Node) are checked at; the others are for information. */
    checked: number[];
    /** Of those sizes, the ones also measured with the room spread over two gateways. */
    scaleOut: number[];
    /** Of those sizes, the ones also measured through the client protocol (`chat:` subscribers, history on). */
    protocol: number[];
    /** Measured rounds per target, interleaved between targets; the best round counts. */
    rounds: number;
    durationMs: number;
    warmupMs: number;
    senders: number;
    payloadBytes: number;
  };
  idle: {
    cases: { sockets: number; gateways: number; workers: number; baselines: boolean }[];
    /** Wait after the last socket opened before reading memory. */
    settleMs: number;
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
}

export const FULL: Plan = {
  fanout: { members: [10, 1000, 10_000], checked: [1000, 10_000], scaleOut: [1000, 10_000], protocol: [1000, 10_000], rounds: 3, durationMs: 4000, warmupMs: 1000, senders: 4, payloadBytes: 32 },
  idle: {
    cases: [
      { sockets: 10_000, gateways: 1, workers: 2, baselines: true },
      { sockets: 50_000, gateways: 4, workers: 4, baselines: false },
    ],
    settleMs: 3000,
  },
  latency: { rates: [100, 200, 1000], durationMs: 10_000, users: 200 },
  monitor: { sockets: 10_000, samples: 10 },
  presence: { members: 10_000, gateways: 2, calls: 50 },
  codec: { iterations: 200_000 },
  api: { durationMs: 5000, senders: 16, batchSize: 1000, batchSenders: 4, users: 2000 },
};

export const QUICK: Plan = {
  fanout: { members: [1000], checked: [1000], scaleOut: [1000], protocol: [1000], rounds: 1, durationMs: 1500, warmupMs: 500, senders: 4, payloadBytes: 32 },
  idle: { cases: [{ sockets: 2000, gateways: 2, workers: 2, baselines: true }], settleMs: 1000 },
  latency: { rates: [100, 1000], durationMs: 2500, users: 50 },
  monitor: { sockets: 1000, samples: 3 },
  presence: { members: 1000, gateways: 2, calls: 10 },
  codec: { iterations: 20_000 },
  api: { durationMs: 1500, senders: 16, batchSize: 1000, batchSenders: 2, users: 500 },
};

/** What every scenario gets. */
export interface Ctx {
  plan: Plan;
  quick: boolean;
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
