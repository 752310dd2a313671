// Two whole gateways in this process on the memory broker (fixtures/memory-gateway.ts), the real
// centrifuge SDK connected to both: the Node behind the client protocol and the server API over
// (memory) NATS, without a child process or a nats-server.
import { describe, expect, test } from "bun:test";
import { REPLY_PREFIX } from "@rt/protocol";
import { createLogger } from "@rt/runtime";
import { SdkClient, signToken, waitFor } from "@rt/testkit";
import { MemoryBroker } from "../src/broker/broker-memory.ts";
import { MemoryNats } from "../src/broker/memory-nats.ts";
import { MemoryGateway } from "./fixtures/memory-gateway.ts";

const log = createLogger("test", "silent");

async function cluster(n: number): Promise<{ nats: MemoryNats; gws: MemoryGateway[]; api: <T>(method: string, body: unknown) => Promise<T> } & AsyncDisposable> {
  const nats = new MemoryNats();
  const gws: MemoryGateway[] = [];
  for (let i = 0; i < n; i++) gws.push(await MemoryGateway.start(nats));
  await waitFor("gateways know each other", () => gws.every((g) => gws.every((o) => o === g || g.registry.alive(o.registry.id))));
  // The server API as the notifier calls it: a request on gateway.api.<method>, answered under its reply prefix.
  const caller = new MemoryBroker(nats, log);
  await caller.connect();
  const answers = new Map<string, (body: unknown) => void>();
  const base = `${REPLY_PREFIX.gatewayApi}t.`;
  caller.acquire(`${base}*`, (m) => answers.get(m.subject)?.(m.json()));
  let calls = 0;
  const api = async <T>(method: string, body: unknown): Promise<T> => {
    const reply = `${base}${++calls}`;
    const answered = new Promise<unknown>((resolve) => answers.set(reply, resolve));
    caller.publish(`gateway.api.${method}`, JSON.stringify(body), undefined, reply);
    const a = (await answered) as { result?: T; error?: { code: number } };
    if (a.error) throw Object.assign(new Error(`api ${method}: ${a.error.code}`), { code: a.error.code });
    return a.result!;
  };
  return {
    nats, gws, api,
    async [Symbol.asyncDispose]() {
      await caller.close();
      for (const g of gws) await g[Symbol.asyncDispose]();
    },
  };
}

const connected = async (g: MemoryGateway, user: string): Promise<SdkClient> => {
  const c = SdkClient.create(g.url, { token: await signToken(user) });
  await c.connect();
  return c;
};

describe("the Node on the memory broker (two gateways in this process, the real SDK)", () => {
  test("publish on one gateway, every subscriber on both gets it once and in order; history answers with the same offsets", async () => {
    await using w = await cluster(2);
    const [a, b] = w.gws as [MemoryGateway, MemoryGateway];
    await using ann = await connected(a, "ann");
    await using bob = await connected(b, "bob");
    await ann.subscribe("chat:lobby");
    const sub = await bob.subscribe("chat:lobby");
    for (let i = 0; i < 20; i++) await (i % 2 ? ann : bob).centrifuge.publish("chat:lobby", { i });
    await ann.waitFor("chat:lobby", 20);
    await bob.waitFor("chat:lobby", 20);
    const expected = Array.from({ length: 20 }, (_, i) => ({ i }));
    expect(ann.data("chat:lobby")).toEqual(expected);
    expect(bob.data("chat:lobby")).toEqual(expected);
    expect(bob.publications.map((p) => p.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const h = await sub.history({ limit: 5, reverse: true });
    expect(h.publications.map((p) => p.offset)).toEqual([20, 19, 18, 17, 16]);
    const viaApi = await w.api<{ publications: Array<{ offset: number }>; offset: number }>("history", { channel: "chat:lobby", limit: 3 });
    expect([viaApi.offset, viaApi.publications.map((p) => p.offset)]).toEqual([20, [1, 2, 3]]);
  });

  test("a client that reconnects to the other gateway recovers what it missed", async () => {
    await using w = await cluster(2);
    const [a, b] = w.gws as [MemoryGateway, MemoryGateway];
    await using pub = await connected(a, "pub");
    await pub.subscribe("chat:recover");
    await using reader = await connected(a, "reader");
    await reader.subscribe("chat:recover", { recoverable: true });
    await pub.centrifuge.publish("chat:recover", { n: 1 });
    await reader.waitFor("chat:recover", 1);
    const seen = reader.subscribed.find((s) => s.channel === "chat:recover")!;
    reader.centrifuge.disconnect();
    for (let n = 2; n <= 6; n++) await pub.centrifuge.publish("chat:recover", { n });
    // The same position, asked of the other gateway.
    await using again = await connected(b, "reader");
    const sub = again.subscription("chat:recover", { since: { offset: 1, epoch: seen.epoch } });
    sub.subscribe();
    await again.until(() => again.subscribed.some((s) => s.channel === "chat:recover"), "subscribed");
    expect(again.subscribed.find((s) => s.channel === "chat:recover")).toMatchObject({ wasRecovering: true, recovered: true });
    await pub.centrifuge.publish("chat:recover", { n: 7 }); // a marker: a repeat of the recovered ones would come before it
    await again.waitFor("chat:recover", 6);
    expect(again.data("chat:recover")).toEqual([2, 3, 4, 5, 6, 7].map((n) => ({ n })));
  });

  test("presence and the server API see clients of both gateways; the API's disconnect reaches a client wherever it is", async () => {
    await using w = await cluster(2);
    const [a, b] = w.gws as [MemoryGateway, MemoryGateway];
    await using ann = await connected(a, "ann");
    await using bob = await connected(b, "bob");
    await using bob2 = await connected(a, "bob");
    const sub = await ann.subscribe("chat:pres");
    await bob.subscribe("chat:pres");
    await bob2.subscribe("chat:pres");
    expect(await sub.presenceStats()).toEqual({ numClients: 3, numUsers: 2 });
    const viaApi = await w.api<{ presence: Record<string, { user: string }> }>("presence", { channel: "chat:pres" });
    expect(Object.values(viaApi.presence).map((c) => c.user).sort()).toEqual(["ann", "bob", "bob"]);
    const channels = await w.api<{ channels: Record<string, { num_clients: number }> }>("channels", {});
    expect(channels.channels["chat:pres"]).toEqual({ num_clients: 3 });
    const info = await w.api<{ nodes: unknown[] }>("info", {});
    expect(info.nodes.length).toBe(2);
    await w.api("disconnect", { user: "bob" });
    await bob.until(() => bob.disconnects.length > 0, "bob on b disconnected");
    await bob2.until(() => bob2.disconnects.length > 0, "bob on a disconnected");
    expect(ann.disconnects).toEqual([]);
    expect(await sub.presenceStats()).toEqual({ numClients: 1, numUsers: 1 });
  });
});
