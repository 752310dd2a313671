// Rooms (StreamHub) in one process on the memory broker: gateways, their streams and real WebSocket
// subscribers, no child process. Fan-out once and in order, recovery from the ring and the stream,
// a publication lost in transit, a link that drops, a stream made anew, history.
import { describe, expect, test } from "bun:test";
import { ROOMS_STREAM } from "@rt/protocol";
import { waitFor } from "@rt/testkit";
import { hubGateways, type HubGateway, type TopicClient } from "./fixtures/memory-hubs.ts";

const CH = "chat:r1";
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Joins `CH` on each gateway with one JSON client, live. */
async function joined(gateways: HubGateway[], channel = CH): Promise<TopicClient[]> {
  const clients: TopicClient[] = [];
  for (const g of gateways) {
    g.hub.join(channel, "json");
    await g.hub.position(channel, undefined);
    clients.push(await g.client(channel));
  }
  return clients;
}

/** Waits until every client has `n` pushes, then proves no more come: one more publication is the next. */
async function exactly(clients: TopicClient[], n: number, via: HubGateway, channel = CH): Promise<void> {
  await waitFor(`${n} pushes each`, () => clients.every((c) => c.pushes.length >= n));
  via.publish(channel, { marker: true });
  await waitFor("the marker", () => clients.every((c) => c.pushes.some((p) => (p.data as { marker?: boolean }).marker)));
  for (const c of clients) expect(c.pushes.length).toBe(n + 1);
  for (const c of clients) c.pushes.pop();
}

describe("rooms on the memory broker", () => {
  test("two gateways publishing at once: every subscriber gets each publication once, in the stream's order, offsets 1..n", async () => {
    await using w = await hubGateways(2);
    const [a, b] = w.gateways as [HubGateway, HubGateway];
    const clients = await joined([a, b]);
    for (let i = 0; i < 100; i++) {
      a.publish(CH, { from: "a", i });
      b.publish(CH, { from: "b", i });
    }
    await exactly(clients, 200, a);
    for (const c of clients) expect(c.offsets()).toEqual(range(1, 200));
    expect(clients[0]!.pushes.map((p) => p.data)).toEqual(clients[1]!.pushes.map((p) => p.data));
    // Each gateway's own publications keep their order.
    for (const from of ["a", "b"]) expect(clients[1]!.pushes.map((p) => p.data as { from: string; i: number }).filter((d) => d.from === from).map((d) => d.i)).toEqual(range(0, 99));
    // The republished copies confirmed every publish: nothing waits in either outbox.
    await waitFor("outboxes empty", () => a.outbox.size === 0 && b.outbox.size === 0);
  });

  test("recovery: from the ring, from the stream past the ring, not at all past the history or from another epoch", async () => {
    await using w = await hubGateways(1);
    const [g] = w.gateways as [HubGateway];
    const [c] = await joined([g]);
    for (let i = 0; i < 150; i++) g.publish(CH, { i });
    await waitFor("150", () => c!.pushes.length === 150);
    const epoch = await g.hub.currentEpoch();
    const fromRing = await g.hub.position(CH, { epoch, offset: 100 });
    expect([fromRing.recovered, fromRing.offset]).toEqual([true, 150]);
    expect(fromRing.publications.map((p) => p.offset)).toEqual(range(101, 150));
    const fromStream = await g.hub.position(CH, { epoch, offset: 5 });
    expect(fromStream.recovered).toBe(true);
    expect(fromStream.publications.map((p) => p.offset)).toEqual(range(6, 150));
    expect(fromStream.publications[0]!.data).toEqual({ i: 5 });
    const current = await g.hub.position(CH, { epoch, offset: 150 });
    expect([current.recovered, current.publications.length]).toEqual([true, 0]);
    // The rooms keep 200: after 250, offset 10 is gone.
    for (let i = 150; i < 250; i++) g.publish(CH, { i });
    await waitFor("250", () => c!.pushes.length === 250);
    const trimmed = await g.hub.position(CH, { epoch, offset: 10 });
    expect([trimmed.recovered, trimmed.offset, trimmed.publications.length]).toEqual([false, 250, 0]);
    const otherEpoch = await g.hub.position(CH, { epoch: "not-this-one", offset: 249 });
    expect([otherEpoch.recovered, otherEpoch.offset]).toEqual([false, 250]);
  });

  test("a republished copy lost in transit: the gap is read from the stream, the client gets everything once and in order", async () => {
    await using w = await hubGateways(2);
    const [a, b] = w.gateways as [HubGateway, HubGateway];
    const clients = await joined([a, b]);
    a.publish(CH, { i: 1 });
    await waitFor("1 each", () => clients.every((c) => c.pushes.length === 1));
    // b never gets the copy of offset 2; it learns of the gap from offset 3 (its prev is 2).
    let lost = 0;
    w.nats.loseWhen((subject, conn) => subject === "chat.live.r1" && conn === b.broker.conn && ++lost === 1);
    a.publish(CH, { i: 2 });
    a.publish(CH, { i: 3 });
    a.publish(CH, { i: 4 });
    await exactly(clients, 4, a);
    expect(lost).toBeGreaterThan(1);
    for (const c of clients) expect(c.offsets()).toEqual([1, 2, 3, 4]);
    expect(clients[1]!.pushes.map((p) => p.data)).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }]);
  });

  test("a gateway whose link drops: what was stored meanwhile is read back after the reconnect, before what comes live", async () => {
    await using w = await hubGateways(2);
    const [a, b] = w.gateways as [HubGateway, HubGateway];
    const clients = await joined([a, b]);
    a.publish(CH, { i: 0 });
    await waitFor("1 each", () => clients.every((c) => c.pushes.length === 1));
    b.broker.drop();
    for (let i = 1; i <= 20; i++) a.publish(CH, { i });
    await waitFor("a has 21", () => clients[0]!.pushes.length === 21);
    expect(clients[1]!.pushes.length).toBe(1);
    b.broker.restore();
    a.publish(CH, { i: 21 });
    await exactly(clients, 22, a);
    for (const c of clients) expect(c.offsets()).toEqual(range(1, 22));
    // A publish taken while b's link was down is stored once the link is back (the outbox).
    b.broker.drop();
    b.publish(CH, { from: "b while down" });
    b.broker.restore();
    await exactly(clients, 23, a);
    // Offset 23 was the marker `exactly` sent.
    expect(clients[0]!.pushes.at(-1)).toEqual({ channel: CH, offset: 24, data: { from: "b while down" } });
  });

  test("a recovery on a gateway behind the client (its link was down) waits until that gateway has fanned out the client's offset", async () => {
    await using w = await hubGateways(2);
    const [a, b] = w.gateways as [HubGateway, HubGateway];
    const clients = await joined([a, b]);
    a.publish(CH, { i: 1 });
    await waitFor("1 each", () => clients.every((c) => c.pushes.length === 1));
    b.broker.drop();
    for (let i = 2; i <= 5; i++) a.publish(CH, { i });
    await waitFor("a's client saw 5", () => clients[0]!.pushes.length === 5);
    const epoch = await a.hub.currentEpoch();
    b.broker.restore();
    const placed = await b.hub.position(CH, { epoch, offset: 5 });
    // Not "not recovered at offset 1" (where b was): at 5, with nothing to add, and b's own subscriber caught up.
    expect([placed.recovered, placed.offset, placed.publications.length]).toEqual([true, 5, 0]);
    await waitFor("b's client has 5", () => clients[1]!.pushes.length === 5);
    expect(clients[1]!.offsets()).toEqual([1, 2, 3, 4, 5]);
  });

  test("a stream made anew (a new epoch): channels start over at 0, a recovery from the old life is not one", async () => {
    await using w = await hubGateways(2);
    const [a, b] = w.gateways as [HubGateway, HubGateway];
    const clients = await joined([a, b]);
    for (let i = 0; i < 5; i++) a.publish(CH, { i });
    await waitFor("5 each", () => clients.every((c) => c.pushes.length === 5));
    const old = await a.hub.currentEpoch();
    w.nats.delete(ROOMS_STREAM);
    await a.store.ensureStream();
    await waitFor("both see the new epoch", () => [a, b].every((g) => g.epoch.current !== undefined && g.epoch.current !== old));
    a.publish(CH, { life: 2 });
    await waitFor("the new life's first", () => clients.every((c) => c.pushes.length === 6));
    for (const c of clients) expect(c.pushes.at(-1)).toEqual({ channel: CH, offset: 1, data: { life: 2 } });
    const back = await b.hub.position(CH, { epoch: old, offset: 5 });
    expect([back.recovered, back.epoch, back.offset]).toEqual([false, b.epoch.current!, 1]);
  });

  test("history: oldest first from an offset, newest first, limited; the channel's top and the stream's epoch", async () => {
    await using w = await hubGateways(1);
    const [g] = w.gateways as [HubGateway];
    const [c] = await joined([g]);
    for (let i = 1; i <= 10; i++) g.publish(CH, { i });
    await waitFor("10", () => c!.pushes.length === 10);
    const epoch = await g.hub.currentEpoch();
    const all = await g.hub.history(CH, { limit: -1, sinceOffset: undefined, reverse: false });
    expect([all.epoch, all.offset]).toEqual([epoch, 10]);
    expect(all.publications.map((p) => p.offset)).toEqual(range(1, 10));
    const since = await g.hub.history(CH, { limit: 3, sinceOffset: 4, reverse: false });
    expect(since.publications.map((p) => p.offset)).toEqual([5, 6, 7]);
    const newest = await g.hub.history(CH, { limit: 3, sinceOffset: undefined, reverse: true });
    expect(newest.publications.map((p) => p.offset)).toEqual([10, 9, 8]);
    const none = await g.hub.history(CH, { limit: 0, sinceOffset: undefined, reverse: false });
    expect([none.offset, none.publications.length]).toEqual([10, 0]);
    const empty = await g.hub.history("chat:nobody", { limit: -1, sinceOffset: undefined, reverse: false });
    expect([empty.offset, empty.publications.length]).toEqual([0, 0]);
  });

  test("a channel nobody here holds any more is let go on the broker", async () => {
    await using w = await hubGateways(1);
    const [g] = w.gateways as [HubGateway];
    const before = g.broker.subscriptions;
    g.hub.join(CH, "json");
    g.hub.join(CH, "json");
    expect(g.broker.subscriptions).toBe(before + 1);
    g.hub.leave(CH, "json");
    expect([g.hub.size, g.broker.subscriptions]).toEqual([1, before + 1]);
    g.hub.leave(CH, "json");
    expect([g.hub.size, g.broker.subscriptions]).toEqual([0, before]);
  });
});
