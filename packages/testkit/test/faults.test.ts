import { describe, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { FaultProxy, TestCluster, TestNats, waitFor, NATS_ADMIN } from "@rt/testkit";

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
