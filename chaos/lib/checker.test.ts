import { describe, expect, test } from "bun:test";
import { check } from "./checker.ts";
import type { ChaosLog, Publication, Track, TrackEntry } from "./log.ts";

/** A publication of `publisher` (its n-th), sent at `sent`, acknowledged at `acked` (undefined: never) with offset `offset`. */
function pub(id: string, sent: number, acked: number | undefined, offset?: number, extra: Partial<Publication> = {}): Publication {
  const [publisher, n] = id.split(".") as [string, string];
  return { id, channel: "chat:r", source: "sdk", publisher, n: Number(n), sentAt: sent, ...(acked === undefined ? {} : { ackedAt: acked }), ...(offset === undefined ? {} : { offset }), ...extra };
}

const sub = (t: number, recovered = false, wasRecovering = false): TrackEntry => ({ t, type: "subscribed", recovered, wasRecovering });
const down = (t: number): TrackEntry => ({ t, type: "down", reason: "test" });
const got = (t: number, id: string, offset?: number): TrackEntry => ({ t, type: "pub", id, offset });
const track = (entries: TrackEntry[], recovers = true, receiver = "u0"): Track => ({ receiver, channel: "chat:r", recovers, entries });

/** Three publications of p, acknowledged, offsets 1..3, sent at 10, 20, 30. */
const three = [pub("p.1", 10, 11, 1), pub("p.2", 20, 21, 2), pub("p.3", 30, 31, 3)];
const log = (tracks: Track[], publications = three): ChaosLog => ({ publications, tracks, faults: [{ at: 15, end: 25, kind: "gateway-kill", target: "gateway 0" }] });

describe("the chaos checker", () => {
  test("a clean log: every acknowledged publication once and in order through a recovered gap", () => {
    const v = check(log([track([sub(0), got(12, "p.1", 1), down(15), sub(25, true, true), got(25, "p.2", 2), got(32, "p.3", 3)])]));
    expect(v).toEqual({ faults: 1, acknowledged: 3, lost: 0, duplicated: 0, outOfOrder: 0, violations: [] });
  });

  test("a loss: an acknowledged publication that never arrived counts once per receiver", () => {
    const v = check(log([track([sub(0), got(12, "p.1", 1), got(32, "p.3", 3)]), track([sub(0), got(12, "p.1", 1), got(32, "p.3", 3)], true, "u1")]));
    expect(v.lost).toBe(2);
    expect(v.violations.map((x) => [x.kind, x.receiver, x.id])).toEqual([["lost", "u0", "p.2"], ["lost", "u1", "p.2"]]);
    expect(v.duplicated + v.outOfOrder).toBe(0);
  });

  test("a duplicate: the second reception of one publication", () => {
    const v = check(log([track([sub(0), got(12, "p.1", 1), got(22, "p.2", 2), got(23, "p.2", 2), got(32, "p.3", 3)])]));
    expect(v).toMatchObject({ lost: 0, duplicated: 1, outOfOrder: 0 });
    expect(v.violations[0]).toMatchObject({ kind: "duplicated", id: "p.2" });
  });

  test("a reorder: a publication received after one with a later offset", () => {
    const v = check(log([track([sub(0), got(12, "p.1", 1), got(32, "p.3", 3), got(33, "p.2", 2)])]));
    expect(v).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 1 });
    expect(v.violations[0]).toMatchObject({ kind: "out-of-order", id: "p.2" });
  });

  test("a reorder without offsets (a /chat/ socket): judged by the publisher's order", () => {
    // p.2 was acknowledged (21) before p.3 was sent (30), so it had to come first.
    const v = check(log([track([sub(0), got(12, "p.1"), got(32, "p.3"), got(33, "p.2")], false, "chat-c0#1")]));
    expect(v).toMatchObject({ lost: 0, outOfOrder: 1 });
    // One /chat/ socket's frames are never acknowledged, yet keep their order.
    const frames = [pub("c.1", 10, undefined, undefined, { sessionOrdered: true }), pub("c.2", 20, undefined, undefined, { sessionOrdered: true })];
    expect(check(log([track([sub(0), got(22, "c.2"), got(23, "c.1")])], frames)).outOfOrder).toBe(1);
  });

  test("without offsets, publications of different publishers may come in any order (a gateway's own /chat/ frames come first)", () => {
    const pubs = [pub("a.1", 10, 11, 1), pub("b.1", 12, undefined, undefined, { sessionOrdered: true })];
    expect(check(log([track([sub(0), got(13, "b.1"), got(14, "a.1")], false, "chat-c0#1")], pubs))).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
  });

  test("two publications in flight at once may be stored in either order", () => {
    // p.2 was sent (20) before p.1 was acknowledged (25): no order promised between them.
    const pubs = [pub("p.1", 10, 25), pub("p.2", 20, 26)];
    expect(check(log([track([sub(0), got(27, "p.2"), got(28, "p.1")])], pubs))).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
  });

  test("an unacknowledged publication: never lost, but a duplicate of it counts", () => {
    const pubs = [...three, pub("p.4", 40, undefined)];
    const missing = check(log([track([sub(0), got(12, "p.1", 1), got(22, "p.2", 2), got(32, "p.3", 3)])], pubs));
    expect(missing).toMatchObject({ acknowledged: 3, lost: 0, duplicated: 0, outOfOrder: 0 });
    const twice = check(log([track([sub(0), got(12, "p.1", 1), got(22, "p.2", 2), got(32, "p.3", 3), got(42, "p.4", 4), got(43, "p.4", 4)])], pubs));
    expect(twice).toMatchObject({ lost: 0, duplicated: 1, outOfOrder: 0 });
  });

  test("a failed recovery (recovered: false) is a loss for what it skipped, not hidden", () => {
    const v = check(log([track([sub(0), got(12, "p.1", 1), down(15), sub(25, false, true), got(32, "p.3", 3)])]));
    expect(v.lost).toBe(1);
    expect(v.violations[0]!.note).toContain("recovered: false");
  });

  test("a receiver that never subscribes again after a disconnect loses the rest", () => {
    const v = check(log([track([sub(0), got(12, "p.1", 1), down(15)])]));
    expect(v.lost).toBe(2);
    expect(v.violations[0]!.note).toContain("never subscribed again");
  });

  test("only what was sent after the first subscribe is expected", () => {
    expect(check(log([track([sub(15), got(22, "p.2", 2), got(32, "p.3", 3)])])).lost).toBe(0);
    expect(check(log([track([sub(15), got(32, "p.3", 3)])])).lost).toBe(1);
  });

  test("a /chat/ session is held to everything only while it stays open; a closed one only to duplicates and order", () => {
    const open = check(log([track([sub(0), got(12, "p.1"), got(32, "p.3")], false)]));
    expect(open.lost).toBe(1);
    const closed = check(log([track([sub(0), got(12, "p.1"), down(15)], false)]));
    expect(closed).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
  });

  test("an id nobody published is reported, not counted", () => {
    const v = check(log([track([sub(0), got(12, "p.1", 1), got(13, "?garbage"), got(22, "p.2", 2), got(32, "p.3", 3)])]));
    expect(v).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(v.violations).toEqual([expect.objectContaining({ kind: "unknown", id: "?garbage" })]);
  });
});
