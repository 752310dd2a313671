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
 * Messages in flight (sent, not yet received by every pace socket). Measured here for 1,000 and
 * 10,000 members: on one server process, 32 gives raw Bun and the gateway their best rate at both
 * sizes (8 cut the 10,000-member rate by 4x: one frame per socket write; 128 and more made both
 * sides stall on full socket buffers). A room spread over two gateways needs more: half of every
 * message takes the NATS hop, and with 32 in flight the two gateways sat partly idle (1.1M/s at
 * 32, 2.9M/s at 256, 1,000 members), so multi-process arms get 256.
 */
export function windowFor(processes: number): number {
  return processes > 1 ? 256 : 32;
}

/** Splits `total` into `parts` near-equal whole numbers. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}
