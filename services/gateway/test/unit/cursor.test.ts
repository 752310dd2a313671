import { describe, expect, test } from "bun:test";
import { StreamCursor, type ChainedEvent } from "../../src/channels/cursor.ts";

const ev = (seq: number, prev: number, epoch?: string): ChainedEvent => ({ seq, prev, epoch });
const live = (last: number, epoch = "E") => {
  const c = new StreamCursor<ChainedEvent>({ maxEvents: 3, maxBytes: 1000 });
  c.position(epoch, last);
  expect(c.endReplay()).toEqual([]);
  return c;
};

describe("StreamCursor", () => {
  test("the rule prev <= last < seq: write, skip a duplicate, a gap when something is missing", () => {
    const c = live(5);
    expect(c.judge(ev(6, 5))).toBe("write");
    expect(c.judge(ev(9, 3))).toBe("write"); // other subjects' seqs in between: no gap
    expect(c.judge(ev(5, 2))).toBe("skip");
    expect(c.judge(ev(1, 0))).toBe("skip"); // a stale repeat never rewinds
    expect(c.judge(ev(8, 7))).toBe("gap");
  });

  test("states: positioning and replaying hold, closed skips, another epoch is told apart", () => {
    const c = new StreamCursor<ChainedEvent>({ maxEvents: 3, maxBytes: 1000 });
    expect(c.state).toBe("positioning");
    expect(c.judge(ev(1, 0))).toBe("hold");
    c.position("E", 0);
    expect(c.state).toBe("replaying");
    expect(c.judge(ev(1, 0))).toBe("hold");
    c.endReplay();
    expect(c.judge(ev(1, 0, "F"))).toBe("epoch");
    expect(c.judge(ev(1, 0, "E"))).toBe("write");
    expect(c.judge(ev(1, 0))).toBe("write"); // no epoch (an older notifier): the cursor's
    c.close();
    expect(c.judge(ev(2, 1))).toBe("skip");
    expect(c.closed).toBe(true);
  });

  test("held events come back in arrival order when the replay ends; the cursor goes live", () => {
    const c = new StreamCursor<ChainedEvent>({ maxEvents: 3, maxBytes: 1000 });
    c.position("E", 0);
    c.hold(ev(3, 2), 10);
    c.hold(ev(2, 1), 10);
    c.wrote(1);
    expect(c.endReplay()).toEqual([ev(3, 2), ev(2, 1)]);
    expect(c.state).toBe("live");
    expect(c.heldCount).toBe(0);
  });

  test("an overflowing hold queue owes another read: endReplay says so and stays replaying", () => {
    const c = new StreamCursor<ChainedEvent>({ maxEvents: 2, maxBytes: 15 });
    c.position("E", 0);
    c.hold(ev(1, 0), 10);
    c.hold(ev(2, 1), 10); // over the byte bound
    expect(c.endReplay()).toBeUndefined();
    expect(c.state).toBe("replaying");
    expect(c.endReplay()).toEqual([]);
    expect(c.state).toBe("live");
  });

  test("position bumps the generation (a read begun before it starts over) and replay() goes back from live", () => {
    const c = live(4);
    const g = c.generation;
    c.replay();
    expect(c.state).toBe("replaying");
    c.position("F", 0);
    expect(c.generation).toBe(g + 1);
    expect([c.epoch, c.last]).toEqual(["F", 0]);
    c.wrote(3);
    c.wrote(2);
    expect(c.last).toBe(3);
  });
});
