// The ROOMS stream is bounded (docs/nats.md, "Bounds, and what happens at each"): in total (ROOMS_MAX_BYTES, discarding the
// oldest) and per message (MAX_MESSAGE_BYTES plus its envelope), on a fresh server and on a
// stream an older version created without bounds; what happens at each bound.
import { describe, expect, test } from "bun:test";
import { DiscardPolicy, StorageType, jetstream, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { ROOMS_STREAM, ROOM_LIVE_WILDCARD, ROOM_STORE_WILDCARD, roomMaxMessageSize } from "@rt/protocol";
import { NATS_ADMIN, SdkClient, ServiceProcess, TEST_JWT_SECRET, TestNats, TestSocket, metric, signToken, waitFor } from "@rt/testkit";

const gatewayOn = (nats: TestNats, env: Record<string, string> = {}) =>
  ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn", RATE_LIMIT_PER_SEC: "0", ...env });

async function admin(nats: TestNats): Promise<NatsConnection & AsyncDisposable> {
  const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  return Object.assign(nc, { [Symbol.asyncDispose]: () => nc.close() });
}

async function roomsInfo(nc: NatsConnection): Promise<StreamInfo> {
  return (await jetstreamManager(nc)).streams.info(ROOMS_STREAM);
}

async function client(gw: ServiceProcess, user: string): Promise<SdkClient> {
  const c = SdkClient.create(`${gw.ws}/connection/websocket`, { token: await signToken(user) });
  await c.connect();
  return c;
}

/** A protocol connection by hand (for frames the SDK would never write); replies by id. */
async function rawClient(gw: ServiceProcess, user: string): Promise<{ s: TestSocket; call: (id: number, frame: string) => Promise<Record<string, unknown>> }> {
  const s = await TestSocket.open(`${gw.ws}/connection/websocket`);
  const call = async (id: number, frame: string) => {
    s.send(frame);
    let found: Record<string, unknown> | undefined;
    await waitFor(`reply ${id}`, () => {
      found = s.messages.flatMap((m) => m.split("\n")).map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.id === id);
      return found !== undefined;
    }, 5000);
    return found!;
  };
  expect(await call(1, JSON.stringify({ id: 1, connect: { token: await signToken(user) } }))).toHaveProperty("connect");
  return { s, call };
}

describe("the stream's bounds", () => {
  test("a fresh server: max_bytes is ROOMS_MAX_BYTES, max_msg_size is MAX_MESSAGE_BYTES plus the envelope and headers, discard old", async () => {
    await using nats = await TestNats.start();
    await using _gw = await gatewayOn(nats, { ROOMS_MAX_BYTES: "40960", MAX_MESSAGE_BYTES: "2048" });
    await using nc = await admin(nats);
    const { config } = await roomsInfo(nc);
    expect(roomMaxMessageSize(2048)).toBe(2048 + 2048 + 256);
    expect({ max_bytes: config.max_bytes, max_msg_size: config.max_msg_size, discard: config.discard })
      .toEqual({ max_bytes: 40960, max_msg_size: roomMaxMessageSize(2048), discard: DiscardPolicy.Old });
  });

  test("duplicate_window covers the outbox's life: 2 minutes (the server API's idempotency), ROOM_OUTBOX_MAX_AGE plus 10 s when that is longer (was a fixed 2 minutes: a repeat sent late by a longer outbox was stored twice)", async () => {
    await using nats = await TestNats.start();
    await using nc = await admin(nats);
    {
      await using _gw = await gatewayOn(nats, {});
      expect((await roomsInfo(nc)).config.duplicate_window).toBe(nanos(120_000));
    }
    await using _gw = await gatewayOn(nats, { ROOM_OUTBOX_MAX_AGE: "300s" });
    expect((await roomsInfo(nc)).config.duplicate_window).toBe(nanos(310_000));
  });

  test("a stream an older version made without bounds gets them at start, and what is over them goes, oldest first", async () => {
    await using nats = await TestNats.start();
    await using nc = await admin(nats);
    await (await jetstreamManager(nc)).streams.add({
      name: ROOMS_STREAM, subjects: [ROOM_STORE_WILDCARD], storage: StorageType.File, max_msgs_per_subject: 100, max_age: nanos(86_400_000),
      duplicate_window: nanos(120_000), discard: DiscardPolicy.Old, num_replicas: 1,
      republish: { src: ROOM_STORE_WILDCARD.replace("*", ">"), dest: ROOM_LIVE_WILDCARD.replace("*", ">") },
    });
    const js = jetstream(nc);
    for (let i = 0; i < 50; i++) await js.publish(`chat.room.old-${i % 7}`, JSON.stringify({ data: { text: "o".repeat(2000) } }));
    const before = await roomsInfo(nc);
    expect({ max_bytes: before.config.max_bytes, max_msg_size: before.config.max_msg_size, over: before.state.bytes > 40960 }).toEqual({ max_bytes: -1, max_msg_size: -1, over: true });

    await using _gw = await gatewayOn(nats, { ROOMS_MAX_BYTES: "40960", MAX_MESSAGE_BYTES: "2048" });
    const after = await roomsInfo(nc);
    expect({ max_bytes: after.config.max_bytes, max_msg_size: after.config.max_msg_size, discard: after.config.discard, within: after.state.bytes <= 40960, last: after.state.last_seq })
      .toEqual({ max_bytes: 40960, max_msg_size: roomMaxMessageSize(2048), discard: DiscardPolicy.Old, within: true, last: 50 });
    expect(after.state.first_seq).toBeGreaterThan(1);
  });
});

describe("at ROOMS_MAX_BYTES", () => {
  test("the oldest publications go; new ones are accepted and delivered; a recovery from a gone offset is not recovered, one from a kept offset is", async () => {
    await using nats = await TestNats.start();
    await using gw = await gatewayOn(nats, { ROOMS_MAX_BYTES: "16384", MAX_MESSAGE_BYTES: "1024" });
    await using nc = await admin(nats);
    await using alice = await client(gw, "bound-alice");
    await using bob = await client(gw, "bound-bob");
    const pub = await alice.subscribe("chat:bound");
    await bob.subscribe("chat:bound");
    const N = 40; // about 800 bytes stored each: twice the bound
    for (let i = 0; i < N; i++) await pub.publish({ text: `${i}:${"b".repeat(700)}` });
    await bob.waitFor("chat:bound", N);
    expect(bob.data("chat:bound").map((d) => Number((d as { text: string }).text.split(":")[0]))).toEqual(Array.from({ length: N }, (_, i) => i));
    const offsets = bob.publications.filter((p) => p.channel === "chat:bound").map((p) => p.offset!);
    const info = await roomsInfo(nc);
    expect(info.state.bytes).toBeLessThanOrEqual(16384);
    expect(info.state.first_seq).toBeGreaterThan(offsets[0]!);
    expect(info.state.last_seq).toBe(offsets[N - 1]!);
    const epoch = bob.subscribed.find((s) => s.channel === "chat:bound")!.epoch!;

    // Nobody holds the room here any more: recoveries read the stream (not the gateway's memory).
    alice.centrifuge.disconnect();
    bob.centrifuge.disconnect();
    await waitFor("the room left", async () => (await metric(gw.http, "rt_channels", 'namespace="chat"')) === 0);
    await using late = await client(gw, "bound-carol");
    await late.subscribe("chat:bound", { since: { offset: offsets[0]!, epoch } });
    expect(late.subscribed.find((s) => s.channel === "chat:bound")).toMatchObject({ wasRecovering: true, recovered: false, offset: offsets[N - 1]!, epoch });
    expect(late.data("chat:bound")).toEqual([]);
    await using kept = await client(gw, "bound-dave");
    await kept.subscribe("chat:bound", { since: { offset: offsets[N - 3]!, epoch } });
    expect(kept.subscribed.find((s) => s.channel === "chat:bound")).toMatchObject({ wasRecovering: true, recovered: true, epoch });
    await kept.waitFor("chat:bound", 2);
    expect(kept.publications.map((p) => p.offset)).toEqual(offsets.slice(N - 2));
  }, 30_000);
});

describe("over max_msg_size", () => {
  test("a protocol publish whose data as stored is over MAX_MESSAGE_BYTES is answered 107 naming the limit, never {}; the next ones are delivered", async () => {
    await using nats = await TestNats.start();
    await using gw = await gatewayOn(nats, { MAX_MESSAGE_BYTES: "16384" });
    await using observer = await client(gw, "big-observer");
    await observer.subscribe("chat:big");
    const { s, call } = await rawClient(gw, "big-sender");
    await using _s = s;
    expect(await call(2, JSON.stringify({ id: 2, subscribe: { channel: "chat:big" } }))).toHaveProperty("subscribe");
    // 1e20 is written back as 100000000000000000000: a frame within MAX_MESSAGE_BYTES stored as four times that.
    const frame = `{"id":3,"publish":{"channel":"chat:big","data":[${Array(3200).fill("1e20").join(",")}]}}`;
    expect(frame.length).toBeLessThan(16384);
    expect(await call(3, frame)).toEqual({ id: 3, error: { code: 107, message: `data is ${3200 * 22 + 1} bytes; at most 16384 (MAX_MESSAGE_BYTES)` } });
    expect(await call(4, JSON.stringify({ id: 4, publish: { channel: "chat:big", data: { after: 1 } } }))).toEqual({ id: 4, publish: {} });
    await observer.waitFor("chat:big", 1);
    expect(observer.data("chat:big")).toEqual([{ after: 1 }]);
    expect(s.closeCode).toBeUndefined();
  });

  test("a /chat/ text within MAX_MESSAGE_BYTES whose escaped form is over it closes with 1009; the room goes on", async () => {
    await using nats = await TestNats.start();
    await using gw = await gatewayOn(nats, { MAX_MESSAGE_BYTES: "16384" });
    await using observer = await client(gw, "quote-observer");
    await observer.subscribe("chat:quotes");
    await using member = await TestSocket.open(`${gw.ws}/chat/quotes`);
    await using sender = await TestSocket.open(`${gw.ws}/chat/quotes`);
    sender.send('"'.repeat(12_000)); // 24 KB once escaped as JSON
    expect(await sender.closed()).toBe(1009);
    expect(sender.closeReason).toBe("message too big once stored");
    member.send("after");
    await observer.waitFor("chat:quotes", 1);
    expect(observer.data("chat:quotes")).toEqual([{ text: "after" }]);
    expect(member.messages).toEqual(["Room quotes: after"]);
  });

  test("a publish the stream refuses for good (its limit lowered by hand) leaves the outbox, counted, and holds nothing up", async () => {
    await using nats = await TestNats.start();
    await using gw = await gatewayOn(nats);
    await using nc = await admin(nats);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.update(ROOMS_STREAM, { ...(await roomsInfo(nc)).config, max_msg_size: 1024 });
    await using observer = await client(gw, "lowered-observer");
    await observer.subscribe("chat:lowered");
    await using member = await TestSocket.open(`${gw.ws}/chat/lowered`);
    member.send("x".repeat(2000)); // within MAX_MESSAGE_BYTES, over the stream's lowered limit
    member.send("small-1");
    await observer.waitFor("chat:lowered", 1);
    await waitFor("the refused publish counted", async () => (await metric(gw.http, "rt_room_outbox_dropped_total", 'reason="refused"')) === 1, 15_000, 100);
    await waitFor("the outbox empty", async () => (await metric(gw.http, "rt_room_outbox_held")) === 0, 5000, 100);
    member.send("small-2");
    await observer.waitFor("chat:lowered", 2);
    expect(observer.data("chat:lowered")).toEqual([{ text: "small-1" }, { text: "small-2" }]);
    expect(await metric(gw.http, "rt_room_outbox_dropped_total")).toBe(1);
  }, 30_000);

  test("a server API publication the stream refuses for good (its limit below the notifier's MAX_MESSAGE_BYTES) is answered 107 naming the limit; nothing stored, the next ones are", async () => {
    await using nats = await TestNats.start();
    await using _gw = await gatewayOn(nats);
    await using _notifier = await ServiceProcess.start("notifier", { NATS_URL: nats.url, LOG_LEVEL: "warn" });
    await using nc = await admin(nats);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.update(ROOMS_STREAM, { ...(await roomsInfo(nc)).config, max_msg_size: 1024 });
    const api = async (data: unknown) => JSON.parse(new TextDecoder().decode((await nc.request("api.publish", JSON.stringify({ channel: "chat:api-lowered", data }), { timeout: 10_000 })).data)) as Record<string, unknown>;
    // Within the notifier's MAX_MESSAGE_BYTES (64 KiB), over the stream's lowered limit.
    expect(await api({ text: "x".repeat(2000) })).toEqual({
      error: { code: 107, message: "the publication is over the rooms stream's max_msg_size (the gateways' MAX_MESSAGE_BYTES plus 2304): give the gateways and the notifier the same MAX_MESSAGE_BYTES" },
    });
    expect(await api({ text: "small" })).toMatchObject({ result: { offset: 1 } });
    expect((await roomsInfo(nc)).state.messages).toBe(1);
  });
});
