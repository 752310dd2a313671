import { describe, expect, test } from "bun:test";
import { parseArgs } from "./args.ts";
import { FAULT_KINDS, plan, type PlannedFault } from "./schedule.ts";

const shape = { gateways: 3, nodes: ["n1", "n2", "n3"], stallable: ["u0", "u1", "u2", "u3"] };

/** The spans [at, at + downMs] of `faults` that hold `key`. */
const spans = (faults: PlannedFault[], pick: (f: PlannedFault) => boolean) => faults.filter(pick).map((f) => [f.at, f.at + f.downMs] as const);
const overlapping = (s: ReadonlyArray<readonly [number, number]>) => s.some(([a, b], i) => s.some(([c, d], j) => i !== j && a < d && c < b));

describe("the chaos schedule", () => {
  test("the same seed gives the same schedule; another seed another", () => {
    expect(plan(42, 60, shape)).toEqual(plan(42, 60, shape));
    expect(plan(42, 60, shape)).not.toEqual(plan(43, 60, shape));
  });

  test("a 60-second run injects at least 5 faults, every kind over a few seeds, each over before the end", () => {
    const kinds = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const faults = plan(seed, 60, shape);
      expect(faults.length).toBeGreaterThanOrEqual(5);
      for (const f of faults) {
        kinds.add(f.kind);
        expect(f.at).toBeGreaterThanOrEqual(3000);
        expect(f.at + f.downMs).toBeLessThanOrEqual(60_000);
      }
    }
    expect([...kinds].sort()).toEqual([...FAULT_KINDS].sort());
  });

  test("never two NATS nodes down, never two gateways down, never one gateway down and cut off at once", () => {
    for (let seed = 0; seed < 200; seed++) {
      const faults = plan(seed, 300, shape);
      expect(overlapping(spans(faults, (f) => f.kind === "nats-kill"))).toBe(false);
      expect(overlapping(spans(faults, (f) => f.kind === "gateway-kill" || f.kind === "gateway-term"))).toBe(false);
      for (let g = 0; g < shape.gateways; g++) expect(overlapping(spans(faults, (f) => f.kind !== "nats-kill" && f.kind !== "stall" && f.target === String(g)))).toBe(false);
    }
  });

  test("the command line: --seconds and --seed, a clock seed otherwise, clear errors", () => {
    expect(parseArgs(["--seconds", "30", "--seed", "7"])).toEqual({ seconds: 30, seed: 7, events: undefined });
    expect(parseArgs(["--seed=9", "--events", "/tmp/e.json"], () => 1)).toEqual({ seconds: 60, seed: 9, events: "/tmp/e.json" });
    expect(parseArgs([], () => 1234)).toEqual({ seconds: 60, seed: 1234, events: undefined });
    expect(() => parseArgs(["--seconds", "abc"])).toThrow("--seconds must be an integer");
    expect(() => parseArgs(["--seconds"])).toThrow("--seconds needs a value");
    expect(() => parseArgs(["--fast"])).toThrow("unknown argument --fast");
  });
});
