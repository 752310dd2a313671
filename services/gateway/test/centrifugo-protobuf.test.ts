// The official SDK's Protobuf build (`centrifuge/build/protobuf`, unmodified) against two gateways:
// the `centrifuge-protobuf` subprotocol, binary frames, and the same channels JSON clients see.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RawSocket, SdkClient, TestSocket, TestSystem, jsonBytes, signToken, waitFor } from "@rt/testkit";

let sys: TestSystem;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 2, notifier: true, gatewayEnv: { PING_INTERVAL_SEC: "2" } });
});
afterAll(async () => {
  await sys?.[Symbol.asyncDispose]();
});

const url = (gw: number) => `${sys.gw(gw).ws}/connection/websocket`;
async function client(gw: number, user: string, encoding: "json" | "protobuf" = "protobuf"): Promise<SdkClient> {
  return SdkClient.create(url(gw), { token: await signToken(user, { expiresIn: "1h" }) }, encoding);
}

describe("the Protobuf SDK on /connection/websocket", () => {
  test("the upgrade answers the centrifuge-protobuf subprotocol; a JSON client is answered without one", async () => {
    await using pb = await RawSocket.open(url(0), { headers: { "sec-websocket-protocol": "centrifuge-json, centrifuge-protobuf" } });
    expect(pb.handshakeHeaders["sec-websocket-protocol"]).toBe("centrifuge-protobuf");
    await using json = await RawSocket.open(url(0));
    expect(json.handshakeHeaders["sec-websocket-protocol"]).toBeUndefined();
  });

  test("connect, subscribe and publish: binary frames both ways, every subscriber once, JSON and Protobuf clients in one room", async () => {
    await using a = await client(0, "pb-ann");
    await using b = await client(1, "pb-bob");
    await using j = await client(1, "json-joe", "json");
    await a.connect();
    await b.connect();
    await j.connect();
    expect(a.clientId).toMatch(/^[0-9a-f-]{36}$/);
    const subA = await a.subscribe("chat:pb-room");
    await b.subscribe("chat:pb-room");
    const subJ = await j.subscribe("chat:pb-room");
    for (let i = 0; i < 10; i++) await subA.publish(jsonBytes({ n: i }));
    await subJ.publish({ from: "json" });
    // One publisher's publications in its order; another publisher's may come between (publish answers once the gateway has it, not once stored).
    for (const c of [a, b, j]) await c.waitFor("chat:pb-room", 11);
    const seen = a.data("chat:pb-room");
    for (const c of [b, j]) expect(c.data("chat:pb-room")).toEqual(seen); // the stream's one order, for every subscriber and either encoding
    expect(seen.filter((d) => "n" in (d as object))).toEqual(Array.from({ length: 10 }, (_, i) => ({ n: i })));
    expect(seen).toContainEqual({ from: "json" });
    const pubs = b.publications.filter((p) => p.channel === "chat:pb-room");
    expect(pubs.every((p) => p.binary)).toBe(true);
    expect(j.publications.some((p) => p.binary)).toBe(false);
    expect(pubs[0]!.info).toEqual({ user: "pb-ann", client: a.clientId! });
    expect(pubs.every((p, i) => i === 0 || p.offset! > pubs[i - 1]!.offset!)).toBe(true);
  });

  test("a /chat/ text frame reaches a Protobuf subscriber as {text}; its {text} publication reaches /chat/", async () => {
    await using c = await client(0, "pb-bridge");
    await c.connect();
    const sub = await c.subscribe("chat:pb-bridge");
    await using legacy = await TestSocket.open(`${sys.gw(1).ws}/chat/pb-bridge`);
    legacy.send("from the article");
    await c.waitFor("chat:pb-bridge", 1);
    expect(c.data("chat:pb-bridge")[0]).toEqual({ text: "from the article" });
    await sub.publish(jsonBytes({ text: "from protobuf" }));
    await legacy.waitForMessages(2);
    expect(legacy.messages).toEqual(["Room pb-bridge: from the article", "Room pb-bridge: from protobuf"]);
  });

  test("history, and recovery after a reconnect: exactly what was missed, in order", async () => {
    await using c = await client(0, "pb-dave");
    await using p = await client(1, "pb-pub");
    await c.connect();
    await p.connect();
    await c.subscribe("chat:pb-recover");
    const pub = await p.subscribe("chat:pb-recover");
    await pub.publish(jsonBytes({ n: "before" }));
    await c.waitFor("chat:pb-recover", 1);
    c.centrifuge.disconnect();
    for (let i = 0; i < 5; i++) await pub.publish(jsonBytes({ n: i }));
    c.subscribed.length = 0;
    c.centrifuge.connect();
    await c.waitFor("chat:pb-recover", 6);
    await c.until(() => c.subscribed.some((s) => s.channel === "chat:pb-recover"), "resubscribed");
    expect(c.subscribed.find((s) => s.channel === "chat:pb-recover")).toMatchObject({ wasRecovering: true, recovered: true });
    expect(c.data("chat:pb-recover")).toEqual([{ n: "before" }, ...Array.from({ length: 5 }, (_, i) => ({ n: i }))]);

    const h = await pub.history({ limit: 3, reverse: true });
    expect(h.publications.map((x) => JSON.parse(new TextDecoder().decode(x.data as Uint8Array)))).toEqual([{ n: 4 }, { n: 3 }, { n: 2 }]);
    expect(h.epoch).toBe(c.subscribed.at(-1)!.epoch!);
    expect(h.offset).toBe(h.publications[0]!.offset!);
  });

  test("presence and presence_stats across both gateways", async () => {
    await using a = await client(0, "pb-p1");
    await using b = await client(1, "pb-p2");
    await a.connect();
    await b.connect();
    const sub = await a.subscribe("chat:pb-presence");
    await b.subscribe("chat:pb-presence");
    await using legacy = await TestSocket.open(`${sys.gw(1).ws}/chat/pb-presence`);
    await waitFor("the /chat/ socket in presence", async () => (await sub.presenceStats()).numClients === 3);
    const p = await sub.presence();
    expect(Object.values(p.clients).map((c) => c.user).sort()).toEqual(["", "pb-p1", "pb-p2"]);
    expect(p.clients[a.clientId!]).toMatchObject({ user: "pb-p1", client: a.clientId });
    expect(await sub.presenceStats()).toEqual({ numClients: 3, numUsers: 3 });
  });

  test("the user's notifications on #<user> arrive as Protobuf publications", async () => {
    await using c = await client(1, "pb-carol");
    await c.connect();
    await c.until(() => c.subscribed.some((s) => s.channel === "#pb-carol"), "the server-side subscription");
    const r = await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "pb-carol", body: "binary hello" }) });
    const sent = (await r.json()) as { seq: number };
    await c.waitFor("#pb-carol", 1);
    const got = c.publications.find((x) => x.channel === "#pb-carol")!;
    expect(got.offset).toBe(sent.seq);
    expect(got.data).toMatchObject({ user_id: "pb-carol", body: "binary hello", seq: sent.seq });
  });

  test("data that is not UTF-8 JSON is refused with 107; a text frame on a Protobuf socket closes with 3501", async () => {
    await using c = await client(0, "pb-bad");
    await c.connect();
    const sub = await c.subscribe("chat:pb-bad");
    const err = await sub.publish(new Uint8Array([0xff, 0xfe, 0x00])).then(() => undefined, (e: { code: number }) => e);
    expect(err?.code).toBe(107);
    expect(c.disconnects).toEqual([]);

    await using raw = await RawSocket.open(url(1), { headers: { "sec-websocket-protocol": "centrifuge-protobuf" } });
    raw.sendText('{"id":1,"connect":{}}');
    expect((await raw.closed()).code).toBe(3501);
  });
});
