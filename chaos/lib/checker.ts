import type { ChaosLog, Publication, Track } from "./log.ts";

/** One finding, with what is needed to find it again in the log. */
export interface Violation {
  kind: "lost" | "duplicated" | "out-of-order" | "unknown";
  receiver: string;
  channel: string;
  id: string;
  /** Why, in words (the gap it fell in, what it came after). */
  note: string;
}

/** The verdict on a log. */
export interface Verdict {
  faults: number;
  acknowledged: number;
  /** Acknowledged publications a receiver should have had and did not (one per receiver and publication). */
  lost: number;
  /** Receptions beyond the first of one publication by one receiver, acknowledged or not. */
  duplicated: number;
  /** Publications received after one that must come later (one per receiver and publication). */
  outOfOrder: number;
  violations: Violation[];
}

/**
 * Which receiver must have which publication, and what counts against it:
 *
 * - **Expected.** An acknowledged publication of channel C is expected by every track of C whose
 *   first subscribe completed before the publication was sent (one that was sent before the
 *   subscribe completed may legitimately fall before the subscription's position). A recovering
 *   client keeps its claim through every disconnect: a resubscribe that recovered covers the gap;
 *   one that did not (`recovered: false`), or no resubscribe at all by the end of the run, loses
 *   what it skipped, and that is counted as lost, never hidden. A `/chat/` socket session (no
 *   recovery) is held to it only while it stays open to the end; one that closed is checked for
 *   duplicates and order only.
 * - **Lost.** An expected publication a track never received.
 * - **Duplicated.** Every reception of a publication beyond its first, acknowledged or not.
 * - **Out of order.** A publication received after one placed later in the channel's stream (a
 *   greater offset, for receivers told offsets), or after a later one of the same publisher that
 *   was sent only once this one was acknowledged (or, for a `/chat/` socket, any later frame of the
 *   same socket). `/chat/` sockets are told no offsets, and get their own gateway's `/chat/` frames
 *   at once, ahead of the stream: their order is the publishers' only.
 * - A received id that nobody published is reported (`unknown`) without being counted.
 */
export function check(log: ChaosLog): Verdict {
  const pubs = new Map<string, Publication>();
  for (const p of log.publications) pubs.set(p.id, p);
  const byChannel = new Map<string, Publication[]>();
  for (const p of log.publications) {
    if (p.ackedAt === undefined) continue;
    const list = byChannel.get(p.channel) ?? [];
    list.push(p);
    byChannel.set(p.channel, list);
  }
  const v: Verdict = { faults: log.faults.length, acknowledged: 0, lost: 0, duplicated: 0, outOfOrder: 0, violations: [] };
  for (const list of byChannel.values()) v.acknowledged += list.length;
  for (const track of log.tracks) checkTrack(track, pubs, byChannel.get(track.channel) ?? [], v);
  return v;
}

/** A stretch a recovering track was not subscribed: from a down to the next subscribe (`to` undefined: never again). */
interface Gap {
  from: number;
  to: number | undefined;
  recovered: boolean;
}

function checkTrack(track: Track, pubs: Map<string, Publication>, acked: Publication[], v: Verdict): void {
  const counts = new Map<string, number>();
  const gaps: Gap[] = [];
  let firstSub: number | undefined;
  let downAt: number | undefined;
  let maxOffset: { offset: number; id: string } | undefined;
  const lastOf = new Map<string, Publication>(); // per publisher: the received one with the greatest n
  const add = (kind: Violation["kind"], id: string, note: string) => v.violations.push({ kind, receiver: track.receiver, channel: track.channel, id, note });
  for (const e of track.entries) {
    if (e.type === "subscribed") {
      if (firstSub === undefined) firstSub = e.t;
      else if (downAt !== undefined) gaps.push({ from: downAt, to: e.t, recovered: e.recovered });
      downAt = undefined;
      continue;
    }
    if (e.type === "down") {
      if (firstSub !== undefined && downAt === undefined) downAt = e.t;
      continue;
    }
    const n = (counts.get(e.id) ?? 0) + 1;
    counts.set(e.id, n);
    const pub = pubs.get(e.id);
    if (n > 1) {
      v.duplicated++;
      add("duplicated", e.id, `received ${n} times (this one at ${secs(e.t)}${pub?.ackedAt === undefined ? ", never acknowledged" : ""})`);
      continue;
    }
    if (!pub) {
      add("unknown", e.id, `received at ${secs(e.t)}, never published`);
      continue;
    }
    // Order: the stream's, then the publisher's.
    const offset = e.offset;
    let late: string | undefined;
    if (offset !== undefined && maxOffset && offset < maxOffset.offset) late = `offset ${offset} after ${maxOffset.id} (offset ${maxOffset.offset})`;
    const before = lastOf.get(pub.publisher);
    if (!late && before && before.n > pub.n && promisedBefore(pub, before)) late = `after ${before.id} of the same publisher, sent once this one was ${pub.sessionOrdered ? "sent" : "acknowledged"}`;
    if (late) {
      v.outOfOrder++;
      add("out-of-order", e.id, `received at ${secs(e.t)}: ${late}`);
    }
    if (offset !== undefined && (!maxOffset || offset > maxOffset.offset)) maxOffset = { offset, id: e.id };
    if (!before || pub.n > before.n) lastOf.set(pub.publisher, pub);
  }
  if (firstSub === undefined) return;
  const endDown = downAt;
  if (!track.recovers && (gaps.length > 0 || endDown !== undefined)) return; // a /chat/ session that ended
  if (endDown !== undefined) gaps.push({ from: endDown, to: undefined, recovered: false });
  for (const p of acked) {
    if (p.sentAt <= firstSub || counts.has(p.id)) continue;
    v.lost++;
    add("lost", p.id, `${p.source} by ${p.publisher}, sent at ${secs(p.sentAt)}, acknowledged at ${secs(p.ackedAt!)}${p.offset !== undefined ? ` (offset ${p.offset})` : ""}${explain(p, gaps)}`);
  }
}

/** True when `p` had to arrive before `later` (both of one publisher, `later.n > p.n`). */
function promisedBefore(p: Publication, later: Publication): boolean {
  if (p.sessionOrdered && later.sessionOrdered) return true;
  return p.ackedAt !== undefined && p.ackedAt <= later.sentAt;
}

/** The gap a lost publication fell in, when one explains it. */
function explain(p: Publication, gaps: Gap[]): string {
  const g = gaps.find((x) => !x.recovered && p.sentAt >= x.from - 1000 && (x.to === undefined || p.sentAt <= x.to));
  if (!g) return "";
  if (g.to === undefined) return `; the receiver went down at ${secs(g.from)} and never subscribed again`;
  return `; in the gap ${secs(g.from)}-${secs(g.to)} whose recovery failed (recovered: false)`;
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;
