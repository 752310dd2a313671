// Presence in one process on the memory broker: three gateways (registry and presence each, short
// heartbeats), members on each, join/leave subscribers on real WebSockets. Lists and stats across
// gateways, joins and leaves told once, a gateway that goes silent, a link that drops.
import { describe, expect, test } from "bun:test";
import { Metrics, ReplyGuard, createLogger } from "@rt/runtime";
import { waitFor } from "@rt/testkit";
import { MemoryBroker } from "../src/broker/broker-memory.ts";
import { MemoryNats } from "../src/broker/memory-nats.ts";
import { GatewayRegistry } from "../src/cluster/gateways.ts";
import { Presence } from "../src/presence/presence.ts";
import { jsonPushes } from "../src/protocols/centrifugo/push.ts";
import { Rejections } from "../src/rejections.ts";
import { TopicClient, topicServer } from "./fixtures/memory-hubs.ts";

const log = createLogger("test", "silent");
const CH = "chat:pr";
const TIMING = { heartbeatMs: 50, goneAfterMs: 400 };
let ids = 0;

class PresenceGateway {
  readonly broker: MemoryBroker;
  readonly registry: GatewayRegistry;
  readonly presence: Presence;
  readonly server = topicServer();

  constructor(nats: MemoryNats) {
    this.broker = new MemoryBroker(nats, log, { noEcho: true });
    const metrics = new Metrics();
    this.registry = new GatewayRegistry(`gw${++ids}`, this.broker, log, () => undefined, TIMING);
    this.presence = new Presence(() => this.server, this.broker, this.registry, [jsonPushes], new Rejections(metrics), new ReplyGuard(metrics, log, ["presence.query"]), log, () => undefined);
  }

  async start(): Promise<void> {
    this.registry.start();
    this.presence.start();
    await this.broker.connect();
  }

  /** A join/leave subscriber of `channel` here: a socket on its topic, watched. */
  async watcher(channel: string): Promise<TopicClient> {
    const c = await TopicClient.open(this.server.port!, jsonPushes.joinLeaveTopic(channel));
    await this.presence.watch(channel, jsonPushes);
    return c;
  }

  async stop(): Promise<void> {
    this.registry.stop();
    await this.broker.close();
    await this.server.stop(true);
  }
}

async function gateways(n: number): Promise<{ nats: MemoryNats; gws: PresenceGateway[] } & AsyncDisposable> {
  const nats = new MemoryNats();
  const gws = Array.from({ length: n }, () => new PresenceGateway(nats));
  for (const g of gws) await g.start();
  // Each knows the others are alive (a presence question goes to the live ones).
  await waitFor("gateways know each other", () => gws.every((g) => gws.every((o) => o === g || g.registry.alive(o.registry.id))));
  return { nats, gws, [Symbol.asyncDispose]: async () => { for (const g of gws) await g.stop(); } };
}

type Told = { join?: { info: { client: string; user: string } }; leave?: { info: { client: string; user: string } } };
const told = (c: TopicClient): string[] => c.raw.map((p) => p as Told).map((p) => (p.join ? `join ${p.join.info.client}` : `leave ${p.leave!.info.client}`));
const clients = async (p: Presence, channel = CH): Promise<string[]> => [...(await p.list(channel)).keys()].sort();

describe("presence on the memory broker", () => {
  test("list and stats ask every gateway: members of all three, distinct users counted once", async () => {
    await using w = await gateways(3);
    const [a, b, c] = w.gws as [PresenceGateway, PresenceGateway, PresenceGateway];
    a.presence.add(CH, "c1", "ann", { listed: true, emit: false });
    b.presence.add(CH, "c2", "bob", { listed: true, emit: false });
    c.presence.add(CH, "c3", "ann", { listed: true, emit: false, info: { role: "x" } });
    c.presence.add(CH, "c4", "hidden", { listed: false, emit: false });
    for (const g of [a, b, c]) expect(await clients(g.presence)).toEqual(["c1", "c2", "c3"]);
    expect((await b.presence.list(CH)).get("c3")).toEqual({ client: "c3", user: "ann", info: { role: "x" } });
    expect(await a.presence.stats(CH)).toEqual({ num_clients: 3, num_users: 2 });
    b.presence.remove(CH, "c2");
    expect(await clients(a.presence)).toEqual(["c1", "c3"]);
    expect(await a.presence.list("chat:empty")).toEqual(new Map());
  });

  test("joins and leaves of other gateways reach a join/leave subscriber once each, in order", async () => {
    await using w = await gateways(2);
    const [a, b] = w.gws as [PresenceGateway, PresenceGateway];
    const watcher = await a.watcher(CH);
    b.presence.add(CH, "j1", "u1", { listed: true, emit: true });
    b.presence.add(CH, "j2", "u2", { listed: true, emit: true });
    b.presence.remove(CH, "j1");
    await waitFor("3 told", () => watcher.raw.length >= 3);
    // One more, to prove nothing else was on its way.
    b.presence.add(CH, "j3", "u3", { listed: true, emit: true });
    await waitFor("4 told", () => watcher.raw.length >= 4);
    expect(told(watcher)).toEqual(["join j1", "join j2", "leave j1", "join j3"]);
    // A member whose namespace does not tell joins and leaves is listed, never announced.
    b.presence.add(CH, "quiet", "u4", { listed: true, emit: false });
    b.presence.add(CH, "j5", "u5", { listed: true, emit: true });
    await waitFor("5 told", () => watcher.raw.length >= 5);
    expect(told(watcher).at(-1)).toBe("join j5");
  });

  test("a gateway that goes silent: its members leave the lists at once and are announced as left once it is known gone", async () => {
    await using w = await gateways(3);
    const [a, b, c] = w.gws as [PresenceGateway, PresenceGateway, PresenceGateway];
    const watcher = await a.watcher(CH);
    b.presence.add(CH, "b1", "bea", { listed: true, emit: true });
    c.presence.add(CH, "c1", "cid", { listed: true, emit: true });
    await waitFor("2 joins", () => watcher.raw.length === 2);
    c.broker.drop(); // as good as killed: no answers, no heartbeats
    await waitFor("c's member left the list", async () => (await clients(a.presence)).join() === "b1");
    await waitFor("c is gone", () => !a.registry.alive(c.registry.id), 5000);
    await waitFor("its member announced as left", () => told(watcher).includes("leave c1"));
    expect(told(watcher).sort()).toEqual(["join b1", "join c1", "leave c1"]);
  });

  test("a gateway whose link drops: joins made meanwhile are announced once the link is back", async () => {
    await using w = await gateways(2);
    const [a, b] = w.gws as [PresenceGateway, PresenceGateway];
    const watcher = await a.watcher(CH);
    b.presence.add(CH, "before", "u0", { listed: true, emit: true });
    await waitFor("1 join", () => watcher.raw.length === 1);
    b.broker.drop();
    b.presence.add(CH, "during", "u1", { listed: true, emit: true });
    b.broker.restore();
    await waitFor("the join made while cut off", () => told(watcher).includes("join during"), 5000);
    expect(told(watcher)).toEqual(["join before", "join during"]);
    expect(await clients(a.presence)).toEqual(["before", "during"]);
  });
});
