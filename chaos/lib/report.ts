import type { Verdict, Violation } from "./checker.ts";
import type { ChaosLog, FaultRecord } from "./log.ts";

/** Lines of detail printed per kind of violation (the rest is counted). */
const PER_KIND = 40;

/** The summary line: the last line of stdout, found by its prefix. */
export function summary(v: Verdict): string {
  return `chaos: ${v.faults} faults, ${v.acknowledged} acknowledged, ${v.lost} lost, ${v.duplicated} duplicated, ${v.outOfOrder} out of order`;
}

/**
 * Enough to debug each violation: which receiver, which publication, and the faults around it
 * (under way within a few seconds of when it was sent or received), grouped by kind, then a count
 * per receiver and channel.
 */
export function details(v: Verdict, log: ChaosLog): string[] {
  const out: string[] = [];
  const kinds: Violation["kind"][] = ["lost", "duplicated", "out-of-order", "unknown"];
  for (const kind of kinds) {
    const list = v.violations.filter((x) => x.kind === kind);
    if (list.length === 0) continue;
    out.push(`${kind}: ${list.length}`);
    for (const x of list.slice(0, PER_KIND)) {
      const pub = log.publications.find((p) => p.id === x.id);
      const around = pub ? faultsAround(log.faults, pub.sentAt) : [];
      out.push(`  ${x.receiver} ${x.channel} ${x.id}: ${x.note}${around.length ? `; faults around it: ${around.map(fault).join("; ")}` : ""}`);
    }
    if (list.length > PER_KIND) out.push(`  ... and ${list.length - PER_KIND} more`);
  }
  const per = new Map<string, number>();
  for (const x of v.violations) per.set(`${x.kind} ${x.receiver} ${x.channel}`, (per.get(`${x.kind} ${x.receiver} ${x.channel}`) ?? 0) + 1);
  if (per.size) out.push(`by receiver and channel: ${[...per].map(([k, n]) => `${k}: ${n}`).join(", ")}`);
  return out;
}

/** The faults under way from 5 s before `t` to 2 s after it. */
function faultsAround(faults: readonly FaultRecord[], t: number): FaultRecord[] {
  return faults.filter((f) => f.at <= t + 2000 && (f.end ?? Infinity) >= t - 5000);
}

const fault = (f: FaultRecord): string => `${f.kind} ${f.target} ${s(f.at)}-${f.end === undefined ? "?" : s(f.end)}`;
const s = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
