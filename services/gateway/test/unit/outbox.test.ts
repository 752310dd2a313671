import { describe, expect, test } from "bun:test";
import { Outbox, type DropReason } from "../../src/broker/outbox.ts";

function box(maxBytes = 10_000, maxAgeMs = 1000) {
  let now = 0;
  const drops: Array<[DropReason, number]> = [];
  const outbox = new Outbox({ maxBytes, maxAgeMs }, (r, n) => drops.push([r, n]), () => now);
  return { outbox, drops, tick: (ms: number) => (now += ms) };
}
const payloads = (es: Array<{ payload: string }>) => es.map((e) => e.payload);

describe("Outbox", () => {
  test("entries stay until acked; numbers grow across subjects", () => {
    const { outbox } = box();
    const a = outbox.push("s.a", "1");
    const b = outbox.push("s.b", "2");
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(payloads(outbox.takeUnsent())).toEqual(["1", "2"]);
    expect(outbox.takeUnsent()).toEqual([]);
    expect(outbox.lastSent).toBe(2);
    outbox.ackOne(1);
    expect(outbox.size).toBe(1);
    outbox.ackOne(2);
    expect(outbox.size).toBe(0);
    expect(outbox.bytes).toBe(0);
  });

  test("a confirmation returns when the entry was pushed (for the store latency), once; a stray or repeated one returns nothing", () => {
    const { outbox, tick } = box();
    outbox.push("s", "1");
    tick(7);
    outbox.push("s", "2");
    outbox.takeUnsent();
    expect(outbox.ackOne(2)?.at).toBe(7);
    expect(outbox.ackOne(2)).toBeUndefined(); // the republished copy after the ack: counted once
    expect(outbox.ackOne(1)?.at).toBe(0);
    expect(outbox.ackOne(1)).toBeUndefined();
    expect(outbox.ackOne(9)).toBeUndefined();
  });

  test("rewind makes every unconfirmed entry due again, in order, before new ones", () => {
    const { outbox } = box();
    outbox.push("s", "1");
    outbox.push("s", "2");
    outbox.takeUnsent();
    outbox.ackOne(1);
    outbox.push("s", "3");
    outbox.rewind();
    expect(payloads(outbox.takeUnsent())).toEqual(["2", "3"]);
  });

  test("an ack never removes what was not sent, and a confirmation out of order waits for the ones before it", () => {
    const { outbox, tick } = box();
    outbox.push("s", "1");
    outbox.push("s", "2");
    tick(5);
    outbox.takeUnsent();
    outbox.push("s", "3");
    outbox.ackOne(3); // not sent yet: ignored
    outbox.ackOne(2); // sent, but 1 is not confirmed: both stay
    expect(outbox.size).toBe(3);
    expect(outbox.oldestSentAt).toBe(5);
    outbox.ackOne(1);
    expect(outbox.size).toBe(1);
    expect(payloads(outbox.takeUnsent())).toEqual(["3"]);
  });

  test("over the byte bound the oldest go first (sent or not, while unconfirmed) and are reported", () => {
    const { outbox, drops } = box(3 * (10 + 1 + 64));
    outbox.push("s", "x".repeat(10));
    outbox.takeUnsent(); // #1 sent, not confirmed
    for (let i = 0; i < 4; i++) outbox.push("s", "y".repeat(10));
    expect(outbox.size).toBe(3);
    expect(drops).toEqual([["bytes", 1], ["bytes", 1]]);
    expect(outbox.bytes).toBeLessThanOrEqual(3 * 75);
  });

  test("one entry larger than the bound is kept alone", () => {
    const { outbox } = box(100);
    outbox.push("s", "z".repeat(500));
    expect(outbox.size).toBe(1);
  });

  test("entries past the age bound are dropped when sending (also after a rewind) and reported", () => {
    const { outbox, drops, tick } = box(10_000, 1000);
    outbox.push("s", "old-sent");
    outbox.takeUnsent();
    outbox.push("s", "old");
    tick(1500);
    outbox.push("s", "new");
    outbox.rewind();
    expect(payloads(outbox.takeUnsent())).toEqual(["new"]);
    expect(drops).toEqual([["age", 2]]);
  });

  test("a long run keeps the array compact", () => {
    const { outbox } = box(1 << 30, 1 << 30);
    for (let i = 0; i < 10_000; i++) {
      outbox.push("s", String(i));
      outbox.takeUnsent();
      outbox.ackOne(outbox.lastSent);
    }
    expect(outbox.size).toBe(0);
    expect((outbox as unknown as { q: unknown[] }).q.length).toBeLessThan(2100);
  });

  test("an entry refused for good leaves as a confirmed one would, reported as refused; the rest is not held up", () => {
    const { outbox, drops } = box();
    outbox.push("s", "big");
    outbox.push("s", "small");
    outbox.takeUnsent();
    expect(outbox.ackOne(2)?.at).toBe(0);
    expect(outbox.size).toBe(2); // held behind the unconfirmed first
    expect(outbox.refuse(1)).toBe(true);
    expect({ size: outbox.size, bytes: outbox.bytes, oldestSentAt: outbox.oldestSentAt, drops }).toEqual({ size: 0, bytes: 0, oldestSentAt: 0, drops: [["refused", 1]] });
    expect(outbox.refuse(1)).toBe(false); // a repeated refusal counts once
    expect(drops).toEqual([["refused", 1]]);
  });
});
