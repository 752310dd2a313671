import { describe, expect, test } from "bun:test";
import { Conn, type ConnSink } from "./conn.ts";
import type { ReconnectPlan } from "./messages.ts";
import { ProtocolSessions, sumSessions } from "./session.ts";

const sink: ConnSink = { settled() {}, frames() {}, text() {}, closed() {} };
const conn = (index = 0) => new Conn(index, "127.0.0.1", 1, "/connection/websocket", true, sink);
const PLAN: ReconnectPlan = { host: "127.0.0.1", port: 2, path: "/connection/websocket", channel: "chat:r", jitterMs: 0, target: 20, maxAttempts: 3 };

/** Sessions whose hooks record what they were told. */
function harness() {
  const done: { ok: boolean; why?: string }[] = [];
  const handshakes: string[] = [];
  const conns: Conn[] = [];
  const sessions = new ProtocolSessions({
    done: (_c, ok, why) => done.push({ ok, ...(why === undefined ? {} : { why }) }),
    connect: (index, _plan, handshake) => {
      handshakes.push(handshake);
      const c = conn(index);
      conns.push(c);
      return c;
    },
  });
  return { sessions, done, handshakes, conns };
}

const connectReply = `{"id":1,"connect":{"client":"c1","subs":{"#u":{"offset":99,"epoch":"x"}}}}`;

describe("ProtocolSessions", () => {
  test("a protocol session is ready on its subscribe reply, and stops decoding", () => {
    const h = harness();
    const c = conn();
    const s = h.sessions.start(0, c, "tok", false);
    h.sessions.text(c, s, connectReply, 1);
    expect(h.done).toEqual([]);
    h.sessions.text(c, s, `{"id":2,"subscribe":{"recoverable":true,"epoch":"e","offset":5}}`, 2);
    expect(h.done).toEqual([{ ok: true }]);
    expect(c.decodeText).toBe(false);
    const st = h.sessions.stats();
    expect(st.ready).toBe(1);
    expect(st.sessions).toBe(1);
    expect(st.lastReadyAt).toBe(2);
  });

  test("a v1 session (the Go peer's JSON protocol) is ready on its subscribe reply's `result`, lines ending with a newline", () => {
    const h = harness();
    const c = conn();
    const s = h.sessions.start(0, c, "", false);
    h.sessions.text(c, s, `{"id":1,"result":{"client":"c1","version":""}}\n`, 1);
    expect(h.done).toEqual([]);
    h.sessions.text(c, s, `{"id":2,"result":{"recoverable":true,"epoch":"jNnM","offset":7}}\n`, 2);
    expect(h.done).toEqual([{ ok: true }]);
    expect(c.decodeText).toBe(false);
    expect(h.sessions.stats()).toMatchObject({ ready: 1, lastReadyAt: 2, minOffset: 7 });
  });

  test("a v1 error reply fails the session with its code", () => {
    const h = harness();
    const c = conn();
    const s = h.sessions.start(0, c, "", false);
    h.sessions.text(c, s, `{"id":1,"result":{"client":"c1"}}\n{"id":2,"error":{"code":103,"message":"permission denied"}}\n`, 1);
    expect(h.done).toEqual([{ ok: false, why: "error 103" }]);
  });

  test("an error reply fails the session with its code", () => {
    const h = harness();
    const c = conn();
    const s = h.sessions.start(0, c, "tok", false);
    h.sessions.text(c, s, `{"id":1,"error":{"code":101,"message":"unauthorized"}}`, 1);
    expect(h.done).toEqual([{ ok: false, why: "error 101" }]);
    expect(h.sessions.stats().failures).toEqual({ "error 101": 1 });
  });

  test("a track session follows offsets across lines and frames: gaps and repeats counted", () => {
    const h = harness();
    const c = conn();
    const s = h.sessions.start(0, c, "tok", true);
    h.sessions.text(c, s, `${connectReply}`, 1);
    h.sessions.text(c, s, `{"id":2,"subscribe":{"recoverable":true,"epoch":"e","offset":10}}`, 1);
    expect(c.decodeText).toBe(true);
    const push = (o: number) => `{"push":{"channel":"chat:r","pub":{"data":{"n":1},"offset":${o}}}}`;
    h.sessions.text(c, s, `${push(11)}\n${push(12)}`, 2);
    h.sessions.text(c, s, push(14), 3);
    h.sessions.text(c, s, push(14), 4);
    const st = h.sessions.stats(15);
    expect(st.maxOffset).toBe(14);
    expect(st.missing).toBe(1);
    expect(st.duplicates).toBe(1);
    expect(st.short).toBe(1);
  });

  test("a closed track session reconnects by the plan, recovers from its last offset and reaches the target", async () => {
    const h = harness();
    const c = conn();
    const s = h.sessions.start(0, c, "tok", true);
    h.sessions.text(c, s, `{"id":2,"subscribe":{"epoch":"e","offset":14}}`, 1);
    h.sessions.arm(PLAN);
    h.sessions.closed(c, s, false, 1006);
    await Bun.sleep(5);
    expect(h.handshakes.length).toBe(1);
    const [connect, subscribe] = h.handshakes[0]!.split("\n").map((l) => JSON.parse(l));
    expect(connect).toEqual({ id: 1, connect: { token: "tok" } });
    expect(subscribe).toEqual({ id: 2, subscribe: { channel: "chat:r", recover: true, offset: 14, epoch: "e" } });
    const c2 = h.conns[0]!;
    const pubs = [15, 16, 17, 18].map((o) => ({ data: { n: o }, offset: o }));
    h.sessions.text(c2, s, JSON.stringify({ id: 2, subscribe: { epoch: "e", offset: 18, recovered: true, was_recovering: true, publications: pubs } }), 50);
    expect(h.sessions.stats().recovered).toBe(0); // 20 not reached yet
    h.sessions.text(c2, s, `{"push":{"channel":"chat:r","pub":{"data":{},"offset":19}}}\n{"push":{"channel":"chat:r","pub":{"data":{},"offset":20}}}`, 60);
    const st = h.sessions.stats(20, true);
    expect(st.recovered).toBe(1);
    expect(st.recoveredAt).toEqual([60]);
    expect(st.reconnects).toBe(1);
    expect(st.missing + st.short + st.duplicates).toBe(0);
    expect(h.done).toEqual([{ ok: true }]); // the first connection's; a reconnect settles nothing the worker waits for
  });

  test("a reply that did not recover counts as not recovered, and what it skipped as missing", async () => {
    const h = harness();
    const c = conn();
    const s = h.sessions.start(0, c, "tok", true);
    h.sessions.text(c, s, `{"id":2,"subscribe":{"epoch":"e","offset":14}}`, 1);
    h.sessions.arm(PLAN);
    h.sessions.closed(c, s, false, 3001);
    await Bun.sleep(5);
    h.sessions.text(h.conns[0]!, s, `{"id":2,"subscribe":{"epoch":"e","offset":30,"recovered":false,"was_recovering":true}}`, 9);
    const st = h.sessions.stats(30);
    expect(st.notRecovered).toBe(1);
    expect(st.missing).toBe(16);
    expect(st.recovered).toBe(0);
  });

  test("stats of several workers add up", () => {
    const a = { ...harness().sessions.stats(), sessions: 2, minOffset: 5, maxOffset: 9, missing: 1, failures: { x: 1 } };
    const b = { ...harness().sessions.stats(), sessions: 1, minOffset: 3, maxOffset: 7, failures: { x: 2, y: 1 } };
    const t = sumSessions([a, b, harness().sessions.stats()]);
    expect(t.sessions).toBe(3);
    expect(t.minOffset).toBe(3);
    expect(t.maxOffset).toBe(9);
    expect(t.missing).toBe(1);
    expect(t.failures).toEqual({ x: 3, y: 1 });
  });
});
