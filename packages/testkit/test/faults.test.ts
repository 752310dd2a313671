import { describe, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { Centrifuge } from "centrifuge";
import { FaultProxy, FaultProxySet, StallableTransport, TestCluster, TestNats, TestSystem, signToken, waitFor, NATS_ADMIN } from "@rt/testkit";

describe("FaultProxy", () => {
  test("cut drops the link and refuses redials, restore lets the client back, delay slows each way", async () => {
    await using nats = await TestNats.start();
    await using proxy = await FaultProxy.start(nats.port);
    const nc = await connect({ ...NATS_ADMIN, servers: proxy.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const events: string[] = [];
    void (async () => {
      for await (const s of nc.status()) events.push(s.type);
    })();
    const t0 = performance.now();
    await nc.flush();
    const base = performance.now() - t0;

    proxy.cut();
    await waitFor("disconnect seen", () => events.includes("disconnect"));
    const accepted = proxy.accepted;
    await waitFor("redials refused", () => proxy.accepted > accepted + 1);
    expect(proxy.open).toBe(0);
    await expect(nc.flush()).rejects.toThrow();

    proxy.restore();
    await waitFor("reconnect seen", () => events.includes("reconnect"));
    proxy.delay(150);
    const t1 = performance.now();
    await nc.flush();
    expect(performance.now() - t1).toBeGreaterThanOrEqual(290); // 150 ms each way
    expect(base).toBeLessThan(100);
    await nc.close();
  });
});

describe("TestCluster", () => {
  test("three nodes, an R3 stream with a leader, and the leader can be killed and replaced", async () => {
    await using cluster = await TestCluster.start();
    const nc = await connect({ ...NATS_ADMIN, servers: cluster.url.split(",") });
    const r = await nc.request("$JS.API.STREAM.CREATE.T", JSON.stringify({ name: "T", subjects: ["t.>"], num_replicas: 3 }), { timeout: 10_000 });
    expect((r.json() as { error?: unknown }).error).toBeUndefined();
    await cluster.waitStreamHealthy("T", 3);
    const leader = await cluster.streamLeader("T");
    expect(["n1", "n2", "n3"]).toContain(leader);
    await cluster.kill(leader);
    await waitFor("a new leader", async () => (await cluster.streamLeader("T")) !== leader, 20_000, 200);
    await cluster.restart(leader);
    await cluster.waitStreamHealthy("T", 3);
    await nc.close();
  });
});

describe("FaultProxySet", () => {
  test("one proxy per cluster node: a client given all of them fails over when a node dies, and cut() takes the whole link", async () => {
    await using cluster = await TestCluster.start();
    await using link = await FaultProxySet.start(cluster.nodes.map((n) => n.port));
    expect(link.url.split(",")).toHaveLength(3);
    const nc = await connect({ ...NATS_ADMIN, servers: link.url.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    const events: string[] = [];
    void (async () => {
      for await (const s of nc.status()) events.push(s.type);
    })();
    await nc.flush();
    expect(link.open).toBe(1);
    // The node behind the open link dies: the client moves to another node through its proxy.
    const port = Number(nc.getServer().split(":").at(-1));
    const behind = link.proxies.findIndex((p) => p.port === port);
    await cluster.kill(cluster.nodes[behind]!.name);
    await waitFor("reconnect to another node", () => events.includes("reconnect"), 10_000);
    await nc.flush();
    link.cut();
    expect(link.cutOff).toBe(true);
    await expect(nc.flush()).rejects.toThrow();
    link.restore();
    await waitFor("back after restore", async () => {
      await nc.flush();
      return true;
    }, 10_000, 100);
    await nc.close();
  });
});

describe("StallableTransport", () => {
  test("the SDK connects through it where route() sends it; pause() stops delivery until resume()", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true });
    const asked: string[] = [];
    const transport = new StallableTransport((url, failedBefore) => {
      asked.push(url);
      // The first connection goes to a closed port (refused): the next one, told so, goes to a gateway.
      return failedBefore ? `${sys.gw(1).ws}/connection/websocket` : "ws://127.0.0.1:1/connection/websocket";
    });
    const c = new Centrifuge("ws://anywhere/connection/websocket", { token: await signToken("stall"), websocket: transport.websocket, minReconnectDelay: 50, maxReconnectDelay: 100 });
    const got: unknown[] = [];
    const sub = c.newSubscription("chat:stall");
    sub.on("publication", (ctx) => got.push(ctx.data));
    sub.subscribe();
    c.connect();
    await sub.ready(10_000);
    expect(asked.length).toBeGreaterThanOrEqual(2);
    expect(asked.every((u) => u === "ws://anywhere/connection/websocket")).toBe(true);
    const publish = (n: number) => fetch(`${sys.notifier!.http}/api/publish`, { method: "POST", body: JSON.stringify({ channel: "chat:stall", data: { n } }) });
    await publish(1);
    await waitFor("the first", () => got.length === 1);
    transport.pause();
    await publish(2);
    // A second subscriber on the other gateway is the positive control: the publication is out.
    const other = new Centrifuge(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken("other") });
    const seen: unknown[] = [];
    const osub = other.newSubscription("chat:stall");
    osub.on("publication", (ctx) => seen.push(ctx.data));
    osub.subscribe();
    other.connect();
    await osub.ready(10_000);
    await publish(3);
    await waitFor("the control has the third", () => seen.length >= 1);
    expect(got).toEqual([{ n: 1 }]);
    transport.resume();
    await waitFor("both after resume", () => got.length === 3);
    expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    c.disconnect();
    other.disconnect();
  });
});
