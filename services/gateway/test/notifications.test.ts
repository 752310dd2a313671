import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { userStoreSubject, type NotificationFrame } from "@rt/protocol";
import { RawSocket, TestSocket, TestSystem, signToken, tcpQueues, waitFor, NATS_ADMIN } from "@rt/testkit";

let sys: TestSystem;
let nc: NatsConnection;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 2, notifier: true });
  nc = await connect({ ...NATS_ADMIN, servers: sys.nats.url });
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
});

async function notify(user_id: string, body: string, extra: Record<string, unknown> = {}): Promise<{ id: string; seq: number }> {
  const r = await fetch(`${sys.notifier!.http}/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id, body, ...extra }),
  });
  expect(r.status).toBe(202);
  return (await r.json()) as { id: string; seq: number };
}

async function inbox(gw: number, user: string, query = ""): Promise<TestSocket> {
  const token = await signToken(user);
  return TestSocket.open(`${sys.gw(gw).ws}/notifications?token=${encodeURIComponent(token)}${query}`);
}

const frames = (s: TestSocket) => s.messages.map((m) => JSON.parse(m) as NotificationFrame);
/** Bytes waiting in the two kernel buffers of `raw`'s connection to `port`: the client's receive queue and the gateway's send queue. */
function kernelQueued(raw: RawSocket, port: number): number {
  const me = raw.socket.localPort!;
  const q = tcpQueues(me);
  const client = q.find((e) => e.localPort === me && e.remotePort === port);
  const server = q.find((e) => e.localPort === port && e.remotePort === me);
  return (client?.rxQueue ?? 0) + (server?.txQueue ?? 0);
}
/** Waits until `s` has the notification `id` (a marker: one user's notifications arrive in seq order). */
const has = (s: TestSocket, id: string) => s.until(() => frames(s).some((f) => f.id === id), `notification ${id}`);

describe("/notifications", () => {
  test("a user's notifications reach all of that user's sockets on every gateway, and nobody else's", async () => {
    await using a1 = await inbox(0, "alice");
    await using a2 = await inbox(0, "alice");
    await using a3 = await inbox(1, "alice");
    await using b1 = await inbox(1, "bob");
    // No wait: a socket without since gets everything stored from the moment it opened.
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await notify("alice", `hello ${i}`, { title: "t", data: { i } }));
    const forBob = await notify("bob", "for bob");
    for (const s of [a1, a2, a3]) {
      await s.waitForMessages(5);
      expect(frames(s).map((f) => [f.id, f.seq, f.body])).toEqual(sent.map((r, i) => [r.id, r.seq, `hello ${i}`]));
      const f = frames(s)[0]!;
      expect(f).toMatchObject({ user_id: "alice", title: "t", data: { i: 0 } });
      expect(Number.isNaN(Date.parse(f.created_at))).toBe(false);
    }
    // Markers, one per user: each user's notifications reach a gateway in the stream's order on its
    // one NATS connection, so a repeat, or one of alice's sent to bob, would have come before them.
    const [aliceMarker, bobMarker] = [await notify("alice", "marker"), await notify("bob", "marker")];
    for (const s of [a1, a2, a3]) await has(s, aliceMarker.id);
    await has(b1, bobMarker.id);
    expect(frames(b1).map((f) => f.id)).toEqual([forBob.id, bobMarker.id]);
    for (const s of [a1, a2, a3]) expect(frames(s).map((f) => f.id)).toEqual([...sent.map((r) => r.id), aliceMarker.id]);
  });

  test("seq only grows for a user", async () => {
    const seqs = [];
    for (let i = 0; i < 5; i++) {
      seqs.push((await notify("grow", `n${i}`)).seq);
      await notify("other-user", "interleaved");
    }
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
  });

  test("since=0 replays everything stored in order, then live ones follow", async () => {
    const stored = [];
    for (let i = 0; i < 4; i++) stored.push(await notify("carol", `old ${i}`));
    await using s = await inbox(1, "carol", "&since=0");
    await s.waitForMessages(4);
    expect(frames(s).map((f) => f.seq)).toEqual(stored.map((r) => r.seq));
    const live = await notify("carol", "new");
    await s.waitForMessages(5);
    expect(frames(s)[4]!.seq).toBe(live.seq);
  });

  test("since=<seq> replays only what came after it", async () => {
    const stored = [];
    for (let i = 0; i < 4; i++) stored.push(await notify("dave", `n ${i}`));
    await using s = await inbox(0, "dave", `&since=${stored[1]!.seq}`);
    const marker = await notify("dave", "marker"); // after the replay, in seq order
    await has(s, marker.id);
    expect(frames(s).map((f) => f.seq)).toEqual([stored[2]!.seq, stored[3]!.seq, marker.seq]);
  });

  test("a replay larger than the backpressure limit goes at the client's pace: a slow reader gets all of it, no 1013", async () => {
    const big = "x".repeat(60 * 1024);
    const stored = [];
    // 15 MB: more than the loopback socket buffers hold, so most of it has to wait in the gateway.
    for (let i = 0; i < 250; i++) stored.push((await notify("ivy", `${i}:${big}`)).seq);
    const token = await signToken("ivy");
    await using raw = await RawSocket.open(`${sys.gw(0).ws}/notifications?token=${token}&since=0`);
    raw.pause(); // the client reads nothing for a while: without flow control the replay would pile up and be cut off
    // Paused until the replay has stopped filling the connection's kernel buffers (two reads alike)
    // with more than the 1 MiB backpressure limit in them: from there on, a replay without flow
    // control would pile the rest up in the gateway (each write checks the limit) and be cut off.
    let queued = -1;
    await waitFor("the replay to stop filling the kernel buffers", () => {
      const now = kernelQueued(raw, sys.gw(0).port!);
      const still = now === queued && now > 2 ** 20;
      queued = now;
      return still;
    }, 20_000, 100);
    raw.resume();
    await raw.waitForMessages(250, 20_000);
    expect(raw.closeFrame).toBeUndefined();
    expect(raw.texts.map((t) => (JSON.parse(t) as NotificationFrame).seq)).toEqual(stored);
  });

  test("without since, only live notifications arrive", async () => {
    await notify("erin", "before");
    await using s = await inbox(0, "erin");
    const live = await notify("erin", "after");
    const marker = await notify("erin", "marker");
    await has(s, marker.id);
    expect(frames(s).map((f) => f.seq)).toEqual([live.seq, marker.seq]);
  });

  test("replay hands over to live with no duplicate and no gap while notifications flow", async () => {
    const acked: number[] = [];
    let sending = true;
    const sender = (async () => {
      while (sending) acked.push((await notify("frank", `f${acked.length}`)).seq);
    })();
    await waitFor("some stored", () => acked.length >= 20);
    const since = acked[5]!;
    await using s = await inbox(1, "frank", `&since=${since}`);
    await waitFor("more flowing", () => acked.length >= 80);
    sending = false;
    await sender;
    const marker = await notify("frank", "marker");
    const expected = [...acked.filter((q) => q > since), marker.seq];
    await s.until(() => frames(s).some((f) => f.id === marker.id), "the marker", 10_000);
    expect(frames(s).map((f) => f.seq)).toEqual(expected);
  });

  test("odd user ids each get only their own", async () => {
    const users = ["auth0|123", "a.b@example.com", "用户", "*", "x.>"];
    const sockets = await Promise.all(users.map((u, i) => inbox(i % 2, u)));
    const ids = new Map<string, string>();
    for (const u of users) ids.set(u, (await notify(u, `for ${u}`)).id);
    // A marker per user after all of them: one sent to the wrong socket would have come before.
    const markers = new Map<string, string>();
    for (const u of users) markers.set(u, (await notify(u, "marker")).id);
    for (const [i, u] of users.entries()) await has(sockets[i]!, markers.get(u)!);
    for (const [i, u] of users.entries()) {
      expect(frames(sockets[i]!).map((f) => [f.id, f.user_id])).toEqual([[ids.get(u)!, u], [markers.get(u)!, u]]);
      sockets[i]!.close();
    }
  });

  test("a missed live event is repaired from the store: nothing skipped, nothing doubled", async () => {
    await using s = await inbox(0, "gina");
    const first = await notify("gina", "first");
    await s.waitForMessages(1);
    // A notification stored without its live event (as if the notifier died between the two).
    const js = jetstream(nc);
    const h = headers();
    h.set("Nats-Expected-Last-Subject-Sequence", String(first.seq));
    const body = { id: "direct-1", user_id: "gina", body: "stored only", created_at: new Date().toISOString(), prev_seq: first.seq };
    const ack = await js.publish(userStoreSubject("gina"), JSON.stringify(body), { headers: h });
    const third = await notify("gina", "third");
    const marker = await notify("gina", "marker");
    await has(s, marker.id);
    expect(frames(s).map((f) => f.seq)).toEqual([first.seq, ack.seq, third.seq, marker.seq]);
  });

  test("through a NATS restart the socket stays open and what was stored meanwhile arrives with no new event", async () => {
    await using s = await inbox(1, "hank");
    const before = await notify("hank", "before");
    await s.waitForMessages(1);
    // Freeze the gateway so it cannot reconnect before the store is written behind its back.
    const pid = sys.gw(1).proc.pid;
    let ack: { seq: number } | undefined;
    process.kill(pid, "SIGSTOP");
    try {
      await sys.nats.stop(true);
      await sys.nats.restart();
      const js = jetstream(nc);
      const body = { id: "during-outage", user_id: "hank", body: "stored meanwhile", created_at: new Date().toISOString(), prev_seq: before.seq };
      await waitFor("stored while the gateway is away", async () => {
        ack = await js.publish(userStoreSubject("hank"), JSON.stringify(body), { timeout: 1000, msgID: "during-outage" });
        return true;
      }, 10_000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    // No live event was ever published for it: the gateway reads it from the store after reconnecting.
    await s.waitForMessages(2, 15_000);
    expect(s.closeCode).toBeUndefined();
    await waitFor("notifier ready again", async () => (await fetch(`${sys.notifier!.http}/readyz`)).status === 200, 15_000);
    const after = await notify("hank", "after");
    await s.waitForMessages(3, 10_000);
    expect(frames(s).map((f) => f.seq)).toEqual([before.seq, ack!.seq, after.seq]);
  });
});
