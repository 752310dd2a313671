import { Prng } from "@rt/testkit";

/** The faults a chaos run injects. */
export type FaultKind = "gateway-kill" | "gateway-term" | "nats-kill" | "link-cut" | "stall";

export const FAULT_KINDS: readonly FaultKind[] = ["gateway-kill", "gateway-term", "nats-kill", "link-cut", "stall"];

/** One planned fault: at `at` ms into the run, on `target`, undone after `downMs`. */
export interface PlannedFault {
  at: number;
  kind: FaultKind;
  /** A gateway index (`gateway-*`, `link-cut`), a NATS node name (`nats-kill`) or a client name (`stall`). */
  target: string;
  /** How long the target stays down, cut off or stalled. */
  downMs: number;
}

/** What there is to break. */
export interface Shape {
  gateways: number;
  nodes: readonly string[];
  /** Clients whose reading can be stalled. */
  stallable: readonly string[];
}

/** How long each kind keeps its target down (min, max ms), and the gap between two faults. */
const DOWN_MS: Record<FaultKind, [number, number]> = {
  "gateway-kill": [500, 3000],
  "gateway-term": [500, 3000],
  "nats-kill": [2000, 6000],
  "link-cut": [1000, 6000],
  stall: [1000, 5000],
};
const GAP_MS: [number, number] = [2000, 5000];
/** Quiet time at the start (every client subscribed, traffic flowing) before the first fault. */
const WARMUP_MS = 3000;
/**
 * How long after a target is back before it is broken again: a restarted gateway needs about a
 * second to answer; a restarted NATS node must catch its streams up before another node may go,
 * so that never more than one node is down or behind (the executor also waits for that).
 */
const SETTLE_MS: Record<FaultKind, number> = { "gateway-kill": 2000, "gateway-term": 2000, "nats-kill": 6000, "link-cut": 1000, stall: 1000 };

/**
 * The faults of a run of `seconds`, from `seed` alone: the same seed and shape give the same
 * list. A fault starts every 2-5 s (after 3 s of warm-up) and is planned to be over before the
 * run ends. At most one gateway is down at a time (killed or stopping) and at most one NATS node
 * (each the whole cluster's turn: a node must be back and caught up before the next goes); a
 * gateway is never cut off and down at once, and a client is stalled once at a time.
 */
export function plan(seed: number, seconds: number, shape: Shape): PlannedFault[] {
  const rng = new Prng(seed);
  const end = seconds * 1000;
  const busyUntil = new Map<string, number>(); // target or resource -> free from
  const free = (key: string, t: number) => (busyUntil.get(key) ?? 0) <= t;
  const out: PlannedFault[] = [];
  for (let t = WARMUP_MS; t < end; t += rng.int(GAP_MS[0], GAP_MS[1])) {
    const choices = FAULT_KINDS.flatMap((kind) => targets(kind, shape).filter((target) => available(kind, target, t, free)).map((target) => ({ kind, target })));
    if (choices.length === 0) continue;
    // A kind first (each equally likely), then one of its free targets.
    const kind = rng.pick([...new Set(choices.map((c) => c.kind))]);
    const target = rng.pick(choices.filter((c) => c.kind === kind)).target;
    const downMs = rng.int(DOWN_MS[kind][0], DOWN_MS[kind][1]);
    if (t + downMs > end) continue; // not over before the run ends
    out.push({ at: t, kind, target, downMs });
    const until = t + downMs + SETTLE_MS[kind];
    for (const key of resources(kind, target)) busyUntil.set(key, Math.max(busyUntil.get(key) ?? 0, until));
  }
  return out;
}

function targets(kind: FaultKind, shape: Shape): readonly string[] {
  switch (kind) {
    case "nats-kill":
      return shape.nodes;
    case "stall":
      return shape.stallable;
    default:
      return Array.from({ length: shape.gateways }, (_, i) => String(i));
  }
}

/** What a fault occupies while it lasts: its target, and the shared turn it takes (one gateway down, one NATS node down). */
export function resources(kind: FaultKind, target: string): string[] {
  switch (kind) {
    case "nats-kill":
      return ["nats"];
    case "stall":
      return [`client:${target}`];
    case "link-cut":
      return [`gateway:${target}`];
    default:
      return [`gateway:${target}`, "gateway-down"];
  }
}

function available(kind: FaultKind, target: string, t: number, free: (key: string, t: number) => boolean): boolean {
  return resources(kind, target).every((key) => free(key, t));
}
