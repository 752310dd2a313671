// The official `centrifuge` SDK (npm, unmodified) against two gateways, a notifier and a real nats-server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { SdkClient, TestSocket, TestSystem, roomTexts, signToken, waitFor, NATS_ADMIN } from "@rt/testkit";

let sys: TestSystem;
let nc: NatsConnection;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 2, notifier: true, gatewayEnv: { PING_INTERVAL_SEC: "2" } });
  nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
});

const url = (gw: number) => `${sys.gw(gw).ws}/connection/websocket`;
async function client(gw: number, user: string, opts: { expiresIn?: string | number; getToken?: () => Promise<string> } = {}): Promise<SdkClient> {
  const token = await signToken(user, { expiresIn: opts.expiresIn ?? "1h" });
  return SdkClient.create(url(gw), { token, ...(opts.getToken ? { getToken: opts.getToken } : {}) });
}
async function notify(user_id: string, body: string): Promise<{ id: string; seq: number; epoch: string }> {
  const r = await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id, body }) });
  expect(r.status).toBe(202);
  return (await r.json()) as { id: string; seq: number; epoch: string };
}

describe("the centrifuge SDK on /connection/websocket", () => {
  test("connects with a JWT: a client id, and the user's inbox #<user> subscribed by the server", async () => {
    await using c = await client(0, "sdk-alice");
    await c.connect();
    expect(c.clientId).toMatch(/^[0-9a-f-]{36}$/);
    await c.until(() => c.subscribed.some((s) => s.channel === "#sdk-alice"), "the server-side subscription");
    const inbox = c.subscribed.find((s) => s.channel === "#sdk-alice")!;
    expect(inbox.epoch).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  test("chat:<room> across two gateways: every subscriber gets every publication once, in order, with info and offset", async () => {
    await using a = await client(0, "ann");
    await using b = await client(1, "bob");
    await a.connect();
    await b.connect();
    const subA = await a.subscribe("chat:sdk-room");
    await b.subscribe("chat:sdk-room");
    for (let i = 0; i < 20; i++) await subA.publish({ n: i });
    await a.waitFor("chat:sdk-room", 20);
    await b.waitFor("chat:sdk-room", 20);
    const expected = Array.from({ length: 20 }, (_, i) => ({ n: i }));
    expect(a.data("chat:sdk-room")).toEqual(expected);
    expect(b.data("chat:sdk-room")).toEqual(expected);
    const pubs = b.publications.filter((p) => p.channel === "chat:sdk-room");
    expect(pubs.every((p) => p.info?.user === "ann" && p.info.client === a.clientId)).toBe(true);
    const offsets = pubs.map((p) => p.offset!);
    expect(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!)).toBe(true);
  });

  test("pushes batched into one frame: subscribers that join while a burst flows get every later publication once, in offset order, none their reply covered", async () => {
    // Four publishers of 90 each (under the per-connection burst of 100), joiners subscribing on both gateways meanwhile.
    const pubs = await Promise.all([0, 1, 2, 3].map(async (k) => {
      const c = await client(k % 2, `burster-${k}`);
      await c.connect();
      return { c, s: await c.subscribe("chat:burst") };
    }));
    const sends: Promise<unknown>[] = [];
    const joining: Promise<SdkClient>[] = [];
    const join = async (gw: number, user: string) => {
      const j = await client(gw, user);
      await j.connect();
      await j.subscribe("chat:burst");
      return j;
    };
    // Rounds of four publishes, each round sent once the previous one is acknowledged (a pace set by
    // the gateways, not a clock). A joiner starts every 20 rounds and must be subscribed before the
    // round that starts the next one: so each of the first four lands with publications in flight
    // before and after it, whatever the load.
    for (let i = 0; i < 90; i++) {
      if (i % 20 === 5 && joining.length > 0) await joining.at(-1);
      const round = pubs.map((p) => p.s.publish({ n: i }));
      sends.push(...round);
      if (i % 20 === 5) joining.push(join(i % 40 === 5 ? 0 : 1, `joiner-${i}`));
      await Promise.all(round);
    }
    await Promise.all(sends);
    const joiners = await Promise.all(joining);
    const first = pubs[0]!.c;
    await first.waitFor("chat:burst", 360);
    const last = first.publications.filter((p) => p.channel === "chat:burst").at(-1)!.offset!;
    let midBurst = 0;
    for (const j of joiners) {
      const from = j.subscribed.find((x) => x.channel === "chat:burst")!.offset!;
      if (from < last) {
        midBurst++;
        await j.until(() => j.publications.some((p) => p.channel === "chat:burst" && p.offset === last), "the last publication");
      }
      const offsets = j.publications.filter((p) => p.channel === "chat:burst").map((p) => p.offset!);
      expect(offsets.length).toBe(last - from); // each publication after its subscribe reply's position, once
      if (offsets.length > 0) expect(offsets[0]).toBe(from + 1); // nothing its reply covered
      expect(offsets.every((o, k) => k === 0 || o === offsets[k - 1]! + 1)).toBe(true); // in order, no gap
      await j[Symbol.asyncDispose]();
    }
    expect(midBurst).toBeGreaterThanOrEqual(2); // the test means something only if joiners landed inside the burst
    for (const p of pubs) await p.c[Symbol.asyncDispose]();
  });

  test("chat:lobby is /chat/lobby: a text frame there is {text}; a publication with a text reaches /chat/ sockets, others do not", async () => {
    await using s = await client(1, "bridge");
    await s.connect();
    const sub = await s.subscribe("chat:bridge-lobby");
    await using legacy = await TestSocket.open(`${sys.gw(0).ws}/chat/bridge-lobby`);
    /** Publishes a probe ({text} from the SDK) until the /chat/ socket has it: the room live on its gateway, and everything published before it delivered. */
    const probe = async () => {
      const text = `probe-${Math.random().toString(36).slice(2)}`;
      await waitFor("the probe at the /chat/ socket", async () => {
        if (legacy.messages.includes(`Room bridge-lobby: ${text}`)) return true;
        await sub.publish({ text });
        return false;
      }, 10_000, 100);
    };
    const isProbe = (d: unknown) => String((d as { text?: unknown }).text).startsWith("probe-");
    const data = () => s.data("chat:bridge-lobby").filter((d) => !isProbe(d));
    await probe();
    legacy.send("hello from /chat");
    await s.until(() => data().length >= 1, "the /chat/ message");
    const first = s.publications.find((p) => p.channel === "chat:bridge-lobby" && !isProbe(p.data))!;
    expect(first.data).toEqual({ text: "hello from /chat" });
    expect(first.info?.user).toBe("");
    await sub.publish({ text: "hi from the SDK" });
    await sub.publish({ other: true });
    await sub.publish({ text: "second" });
    // One publisher's publications arrive in order: {other} would have reached the /chat/ socket before the probe.
    await probe();
    expect(roomTexts(legacy, "bridge-lobby")).toEqual(["hello from /chat", "hi from the SDK", "second"]);
    await s.until(() => data().length >= 4, "four publications");
  });

  test("personal notifications arrive on #<user> with the notification as data and its seq as offset", async () => {
    await using c = await client(1, "sdk-carol");
    await c.connect();
    await c.until(() => c.subscribed.some((s) => s.channel === "#sdk-carol"), "subscribed");
    const sent = await notify("sdk-carol", "for carol");
    await c.waitFor("#sdk-carol", 1);
    const p = c.publications.find((x) => x.channel === "#sdk-carol")!;
    expect(p.offset).toBe(sent.seq);
    expect(p.data).toMatchObject({ id: sent.id, seq: sent.seq, epoch: sent.epoch, user_id: "sdk-carol", body: "for carol" });
    await notify("sdk-someone-else", "not for carol");
    // A marker for carol after it: the gateway gets both users' notifications in the stream's order
    // on its one NATS connection, so one misrouted to carol would have come before the marker.
    const marker = await notify("sdk-carol", "marker");
    await c.until(() => c.publications.some((x) => x.channel === "#sdk-carol" && x.offset === marker.seq), "the marker");
    expect(c.publications.filter((x) => x.channel === "#sdk-carol").map((x) => x.offset)).toEqual([sent.seq, marker.seq]);
  });

  test("disconnect and reconnect: a room and the inbox recover exactly what was missed, in order, nothing twice", async () => {
    await using c = await client(0, "sdk-dave");
    await using other = await client(1, "sdk-publisher");
    await c.connect();
    await other.connect();
    await c.subscribe("chat:recover");
    const pub = await other.subscribe("chat:recover");
    await pub.publish({ n: "before" });
    await c.waitFor("chat:recover", 1);
    await notify("sdk-dave", "inbox before");
    await c.waitFor("#sdk-dave", 1);

    c.centrifuge.disconnect();
    for (let i = 0; i < 5; i++) await pub.publish({ n: i });
    const missed = [await notify("sdk-dave", "missed 1"), await notify("sdk-dave", "missed 2")];
    c.subscribed.length = 0;
    c.centrifuge.connect();
    await c.waitFor("chat:recover", 6);
    await c.waitFor("#sdk-dave", 3);
    await pub.publish({ n: "after" });
    // Markers on both channels: a repeat of anything recovered would have come before them.
    const marker = await notify("sdk-dave", "marker");
    await c.waitFor("chat:recover", 7);
    await c.until(() => c.publications.some((p) => p.channel === "#sdk-dave" && p.offset === marker.seq), "the inbox marker");
    expect(c.data("chat:recover")).toEqual([{ n: "before" }, ...Array.from({ length: 5 }, (_, i) => ({ n: i })), { n: "after" }]);
    expect(c.publications.filter((p) => p.channel === "#sdk-dave").map((p) => p.offset).slice(1)).toEqual([...missed.map((m) => m.seq), marker.seq]);
    const room = c.subscribed.find((s) => s.channel === "chat:recover")!;
    expect(room).toMatchObject({ wasRecovering: true, recovered: true });
    expect(c.subscribed.find((s) => s.channel === "#sdk-dave")).toMatchObject({ wasRecovering: true, recovered: true });
  });

  test("the position is the stream's, not a gateway's: a subscriber on the other gateway recovers from it", async () => {
    await using first = await client(0, "sdk-erin");
    await using pubClient = await client(1, "sdk-pub2");
    await first.connect();
    await pubClient.connect();
    await first.subscribe("chat:hop");
    const pub = await pubClient.subscribe("chat:hop");
    await pub.publish({ n: 0 });
    await first.waitFor("chat:hop", 1);
    const seen = first.publications.find((p) => p.channel === "chat:hop")!;
    const epoch = first.subscribed.find((s) => s.channel === "chat:hop")!.epoch!;
    first.centrifuge.disconnect();
    await pub.publish({ n: 1 });
    await pub.publish({ n: 2 });
    await using second = await client(1, "sdk-erin");
    await second.connect();
    await second.subscribe("chat:hop", { since: { offset: seen.offset, epoch } });
    await pub.publish({ n: 3 }); // a marker: a repeat of the recovered ones would have come before it
    await second.waitFor("chat:hop", 3);
    expect(second.data("chat:hop")).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(second.subscribed.find((s) => s.channel === "chat:hop")).toMatchObject({ wasRecovering: true, recovered: true });
  });

  test("history: the kept publications, oldest first or newest first, with the stream position", async () => {
    await using c = await client(0, "sdk-frank");
    await c.connect();
    const sub = await c.subscribe("chat:history");
    for (let i = 0; i < 6; i++) await sub.publish({ h: i });
    await c.waitFor("chat:history", 6);
    const all = await sub.history({ limit: 10 });
    expect(all.publications.map((p) => p.data)).toEqual(Array.from({ length: 6 }, (_, i) => ({ h: i })));
    expect(all.offset).toBe(all.publications.at(-1)!.offset!);
    expect(all.epoch).toMatch(/^[A-Za-z0-9_-]+$/);
    const last2 = await sub.history({ limit: 2, reverse: true });
    expect(last2.publications.map((p) => p.data)).toEqual([{ h: 5 }, { h: 4 }]);
    const since = await sub.history({ limit: 10, since: { offset: all.publications[3]!.offset!, epoch: all.epoch } });
    expect(since.publications.map((p) => p.data)).toEqual([{ h: 4 }, { h: 5 }]);
    const none = await sub.history({});
    expect(none.publications).toEqual([]);
  });

  test("system:monitor: the latest sample of each host right after subscribing, then every new one", async () => {
    const sample = (host: string, cpu: number) => JSON.stringify({ timestamp: new Date().toISOString(), cpu_load: cpu, memory_usage: 40, host, interval_ms: 60_000 });
    // A /system-monitor socket already on that gateway sees it take the sample in.
    await using watcher = await TestSocket.open(`${sys.gw(1).ws}/system-monitor`);
    nc.publish("metrics.host.c2RrLWhvc3Q", sample("sdk-host", 0.5));
    await nc.flush();
    await watcher.until(() => watcher.messages.some((m) => m.includes('"host":"sdk-host"')), "the sample at the gateway");
    await using c = await client(1, "sdk-gina");
    await c.connect();
    await c.subscribe("system:monitor");
    await c.until(() => c.data("system:monitor").some((d) => (d as { host: string }).host === "sdk-host"), "the latest sample");
    nc.publish("metrics.host.c2RrLWhvc3Q", sample("sdk-host", 0.9));
    await c.until(() => c.data("system:monitor").some((d) => (d as { cpu_load: number }).cpu_load === 0.9), "a new sample");
  });

  test("rpc goes to a backend on rpc.<method> with the user and client, answered in the proxy envelope; no backend: error 108", async () => {
    const sub = nc.subscribe("rpc.sum", {
      callback: (_err, msg) => {
        const req = msg.json<{ user: string; client: string; method: string; transport: string; data: { a: number; b: number } }>();
        msg.respond(JSON.stringify({ result: { data: { sum: req.data.a + req.data.b, user: req.user, client: req.client, method: req.method, transport: req.transport } } }));
      },
    });
    await nc.flush();
    await using c = await client(0, "sdk-henry");
    await c.connect();
    const r = await c.centrifuge.rpc("sum", { a: 2, b: 3 });
    expect(r.data).toEqual({ sum: 5, user: "sdk-henry", client: c.clientId, method: "sum", transport: "websocket" });
    const err = await c.centrifuge.rpc("nobody-listens", {}).catch((e: { code: number }) => e);
    expect((err as { code: number }).code).toBe(108);
    sub.unsubscribe();
  });

  test("token refresh: a token that expires while connected is renewed through getToken; the connection stays up", async () => {
    let issued = 0;
    const getToken = async () => {
      issued++;
      return signToken("sdk-ivan", { expiresIn: "1h" });
    };
    // The SDK refreshes after the connect result's whole-second `ttl`; an exp 3.5-4.5 s away leaves
    // it at least half a second before the gateway closes expired connections.
    const exp = Math.ceil((Date.now() + 3500) / 1000);
    await using c = await client(0, "sdk-ivan", { expiresIn: exp, getToken });
    await c.connect();
    const id = c.clientId;
    // The control: a raw connection on the same gateway whose token has the same exp, not refreshed.
    await using control = await TestSocket.open(url(0));
    control.send({ id: 1, connect: { token: await signToken("sdk-ivan-control", { expiresIn: exp }) } });
    await waitFor("a refresh", () => issued >= 1, 8000, 100);
    expect(await control.closed(10_000)).toBe(3005); // past the first token's expiry
    // The sweep that closed the control looked at this connection too: a round trip on it after that.
    expect(await c.centrifuge.rpc("sdk-round-trip", {}).catch((e: { code: number }) => e.code)).toBe(108);
    expect(c.disconnects).toEqual([]);
    expect(String(c.centrifuge.state)).toBe("connected");
    expect(c.clientId).toBe(id); // the same connection, not a new one after a close
  });
});
