// Presence, presence_stats and join/leave on chat: channels across two gateways (the official SDK),
// the channel limit, and what a killed gateway or a cut NATS link does to presence.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SdkClient, TestSocket, TestSystem, signToken, waitFor } from "@rt/testkit";

let sys: TestSystem;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 2, gatewayEnv: { RATE_LIMIT_PER_SEC: "0" } });
});
afterAll(async () => {
  await sys?.[Symbol.asyncDispose]();
});

const url = (s: TestSystem, gw: number) => `${s.gw(gw).ws}/connection/websocket`;
async function client(s: TestSystem, gw: number, user: string): Promise<SdkClient> {
  const c = SdkClient.create(url(s, gw), { token: await signToken(user, { expiresIn: "1h" }) });
  await c.connect();
  return c;
}
const users = (p: { clients: Record<string, { user: string }> }) => Object.values(p.clients).map((c) => c.user).sort();

describe("presence across gateways", () => {
  test("presence lists every subscriber on every gateway (a /chat/ socket with user \"\"); presence_stats counts clients and distinct users", async () => {
    await using a = await client(sys, 0, "pr-ann");
    await using b = await client(sys, 1, "pr-bob");
    await using b2 = await client(sys, 0, "pr-bob"); // the same user twice: two clients, one user
    const sub = await a.subscribe("chat:pr-list");
    await b.subscribe("chat:pr-list");
    await b2.subscribe("chat:pr-list");
    await using legacy = await TestSocket.open(`${sys.gw(1).ws}/chat/pr-list`);
    await waitFor("four members", async () => Object.keys((await sub.presence()).clients).length === 4);
    const p = await sub.presence();
    expect(users(p)).toEqual(["", "pr-ann", "pr-bob", "pr-bob"]);
    expect(p.clients[a.clientId!]).toEqual({ user: "pr-ann", client: a.clientId! });
    expect(p.clients[b.clientId!]).toEqual({ user: "pr-bob", client: b.clientId! });
    expect(await sub.presenceStats()).toEqual({ numClients: 4, numUsers: 3 });

    legacy.close();
    b.centrifuge.getSubscription("chat:pr-list")!.unsubscribe();
    await waitFor("two members left", async () => (await sub.presenceStats()).numClients === 2);
    expect(users(await sub.presence())).toEqual(["pr-ann", "pr-bob"]);
  });

  test("join and leave pushes both ways between gateways, for SDK clients and /chat/ sockets", async () => {
    await using a = await client(sys, 0, "jl-ann");
    await using b = await client(sys, 1, "jl-bob");
    await a.subscribe("chat:pr-jl", { joinLeave: true });
    await b.subscribe("chat:pr-jl", { joinLeave: true });
    // Each sees its own join, and the other's.
    await a.until(() => a.joins.some((j) => j.user === "jl-bob"), "bob's join at ann");
    await b.until(() => b.joins.some((j) => j.user === "jl-bob" && j.client === b.clientId), "bob's own join");

    await using c = await client(sys, 1, "jl-carl");
    await c.subscribe("chat:pr-jl");
    await using legacy = await TestSocket.open(`${sys.gw(0).ws}/chat/pr-jl`);
    for (const x of [a, b]) await x.until(() => x.joins.some((j) => j.user === "jl-carl") && x.joins.some((j) => j.user === ""), "carl's and the /chat/ socket's joins");
    expect(a.joins.find((j) => j.user === "jl-carl")).toEqual({ channel: "chat:pr-jl", user: "jl-carl", client: c.clientId! });

    c.centrifuge.disconnect();
    legacy.close();
    for (const x of [a, b]) await x.until(() => x.leaves.some((l) => l.user === "jl-carl") && x.leaves.some((l) => l.user === ""), "carl's and the /chat/ socket's leaves");
    // Each push once: no repeats from the other gateway.
    expect(a.joins.filter((j) => j.user === "jl-carl")).toHaveLength(1);
    expect(b.leaves.filter((l) => l.user === "jl-carl")).toHaveLength(1);
    // A subscriber that did not ask for join/leave gets none.
    expect(c.joins).toEqual([]);
  });

  test("presence only where the channel has it: 108 on #<user> and system:monitor, 103 when not subscribed, 102 unknown, 107 invalid", async () => {
    await using a = await client(sys, 0, "pr-rules");
    await a.subscribe("system:monitor");
    const code = (channel: string) => a.centrifuge.presence(channel).then(() => 0, (e: { code: number }) => e.code);
    expect(await code("#pr-rules")).toBe(108);
    expect(await code("system:monitor")).toBe(108);
    expect(await code("chat:pr-not-subscribed")).toBe(103);
    expect(await code("nope:x")).toBe(102);
    expect(await code("chat:bad room")).toBe(107);
    expect(await a.centrifuge.presenceStats("#pr-rules").then(() => 0, (e: { code: number }) => e.code)).toBe(108);
  });
});

describe("limits", () => {
  test("128 channels per connection: the 129th subscribe gets 106 (the user's #<user> counts); the connection stays", async () => {
    await using a = await client(sys, 1, "pr-many");
    await a.until(() => a.subscribed.some((s) => s.channel === "#pr-many"), "the inbox");
    const subs = Array.from({ length: 127 }, (_, i) => a.subscription(`chat:lim-${i}`));
    for (const s of subs) s.subscribe();
    await Promise.all(subs.map((s) => s.ready(10_000)));
    const extra = a.subscription("chat:lim-extra");
    extra.subscribe();
    await a.until(() => a.unsubscribes.length > 0, "the 129th channel refused");
    expect(a.unsubscribes).toEqual([{ channel: "chat:lim-extra", code: 106, reason: "limit exceeded" }]);
    expect(a.disconnects).toEqual([]);
    // Room again after one unsubscribe.
    subs[0]!.unsubscribe();
    const again = a.subscription("chat:lim-again");
    again.subscribe();
    await again.ready(5000);
  });

  test("server-side subscriptions from the token's channels claim: in the connect result, live, recovered after a reconnect", async () => {
    const token = await signToken("ss-user", { claims: { channels: ["chat:ss-a", "chat:ss-b", "system:monitor", "#ss-user"] } });
    await using c = SdkClient.create(url(sys, 0), { token });
    await c.connect();
    await c.until(() => ["#ss-user", "chat:ss-a", "chat:ss-b", "system:monitor"].every((ch) => c.subscribed.some((x) => x.channel === ch)), "four server-side subscriptions");
    await using p = await client(sys, 1, "ss-pub");
    const pubA = await p.subscribe("chat:ss-a");
    await pubA.publish({ n: 1 });
    await c.waitFor("chat:ss-a", 1);
    const sub = await p.subscribe("chat:ss-b");
    expect(Object.values((await sub.presence()).clients).map((x) => x.user).sort()).toEqual(["ss-pub", "ss-user"]);

    c.centrifuge.disconnect();
    for (let i = 2; i <= 4; i++) await pubA.publish({ n: i });
    c.subscribed.length = 0;
    c.centrifuge.connect();
    await c.waitFor("chat:ss-a", 4);
    expect(c.data("chat:ss-a")).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    await c.until(() => c.subscribed.some((x) => x.channel === "chat:ss-a"), "resubscribed");
    expect(c.subscribed.find((x) => x.channel === "chat:ss-a")).toMatchObject({ wasRecovering: true, recovered: true });
  });

  test("3505: a token with more server-side channels than a connection may have; 3500: a channel no one may be subscribed to", async () => {
    const many = Array.from({ length: 128 }, (_, i) => `chat:ss-many-${i}`); // 128 rooms + the user's #<user> = 129
    for (const [channels, code] of [[many, 3505], [["#someone-else"], 3500], [["nope:x"], 3500], ["chat:x", 3500]] as const) {
      await using s = await TestSocket.open(url(sys, 0));
      s.send({ id: 1, connect: { token: await signToken("ss-limit", { claims: { channels } }) } });
      expect(await s.closed()).toBe(code);
    }
    // 127 rooms + #<user> = 128: fine.
    await using ok = await TestSocket.open(url(sys, 1));
    ok.send({ id: 1, connect: { token: await signToken("ss-limit", { claims: { channels: many.slice(1) } }) } });
    const reply = await ok.nextJson<{ connect: { subs: Record<string, unknown> } }>(10_000);
    expect(Object.keys(reply.connect.subs)).toHaveLength(128);
  });

  test("presence calls are rate-limited like every command (111)", async () => {
    await using tight = await TestSystem.start({ gateways: 1, gatewayEnv: { RATE_LIMIT_PER_SEC: "1", RATE_LIMIT_BURST: "5" } });
    await using a = await client(tight, 0, "pr-rate");
    const sub = await a.subscribe("chat:pr-rate");
    const codes = await Promise.all(Array.from({ length: 10 }, () => sub.presenceStats().then(() => 0, (e: { code: number }) => e.code)));
    expect(codes.filter((c) => c === 111).length).toBeGreaterThanOrEqual(5);
    expect(codes.filter((c) => c === 0).length).toBeGreaterThanOrEqual(1);
  });
});

describe("faults", () => {
  test("a gateway killed with -9 leaves no ghosts: its members are gone from presence at once and announced as left once it is known gone", async () => {
    // Short cluster timers (the defaults are 5 s and 15 s): the leaves come once the dead gateway
    // has been silent for GATEWAY_GONE_AFTER. When exactly is GatewayRegistry's unit test's to pin
    // (gateway-registry.test.ts); here the behaviour: each member of the dead gateway leaves.
    await using s = await TestSystem.start({ gateways: 2, gatewayEnv: { GATEWAY_HEARTBEAT_INTERVAL: "500ms", GATEWAY_GONE_AFTER: "2s" } });
    await using a = await client(s, 0, "gh-ann");
    await using b = await client(s, 1, "gh-bob");
    const sub = await a.subscribe("chat:ghosts", { joinLeave: true });
    await b.subscribe("chat:ghosts");
    await using legacy = await TestSocket.open(`${s.gw(1).ws}/chat/ghosts`);
    await waitFor("three members", async () => (await sub.presenceStats()).numClients === 3);
    await a.until(() => a.joins.some((j) => j.user === "gh-bob") && a.joins.some((j) => j.user === ""), "the joins");
    expect(a.leaves).toEqual([]);

    await s.gw(1).stop("SIGKILL");
    await waitFor("only ann in presence", async () => users(await sub.presence()).join() === "gh-ann", 5000);
    await a.until(() => a.leaves.some((l) => l.user === "gh-bob") && a.leaves.some((l) => l.user === ""), "leaves for the dead gateway's members", 30_000);
    expect(a.leaves.map((l) => l.user).sort()).toEqual(["", "gh-bob"]);
    expect(await sub.presenceStats()).toEqual({ numClients: 1, numUsers: 1 });
  }, 60_000);

  test("a gateway cut off from NATS: joins made meanwhile are announced once its link is back; presence there is a temporary error meanwhile", async () => {
    await using s = await TestSystem.start({ gateways: 2, proxied: true });
    await using a = await client(s, 0, "cut-ann");
    await using b = await client(s, 1, "cut-bob");
    await a.subscribe("chat:cut", { joinLeave: true });
    const subB = await b.subscribe("chat:cut");
    await a.until(() => a.joins.some((j) => j.user === "cut-bob"), "bob's join");

    s.proxy(s.gw(1)).cut();
    const err = await subB.presence().then(() => 0, (e: { code: number; temporary?: boolean }) => e);
    expect(err).toMatchObject({ code: 100, temporary: true });
    await using legacy = await TestSocket.open(`${s.gw(1).ws}/chat/cut`); // joins while gateway 1 cannot tell anyone
    s.proxy(s.gw(1)).restore();
    await a.until(() => a.joins.some((j) => j.user === ""), "the /chat/ socket's join, from the snapshot after the link came back", 20_000);
    expect(a.joins.filter((j) => j.user === "")).toHaveLength(1);
  }, 60_000);
});
