// How fast one user may create rooms (docs/nats.md, "How fast rooms are created"): a client cycling subscribe -> publish ->
// unsubscribe over fresh rooms filled the ROOMS stream. Creating a room is publishing into one
// that has nothing stored, as the gateway sees it; CHANNEL_CREATE_RATE_PER_MIN and
// CHANNEL_CREATE_BURST bound it per user (per client address for `/chat/` and anonymous clients).
import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ROOMS_STREAM, roomSubject } from "@rt/protocol";
import { NATS_ADMIN, SdkClient, ServiceProcess, TEST_JWT_SECRET, TestNats, TestSocket, metric, signToken, waitFor } from "@rt/testkit";

const gatewayOn = (nats: TestNats, env: Record<string, string> = {}) =>
  ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn", ...env });

async function client(gw: ServiceProcess, user: string): Promise<SdkClient> {
  const c = SdkClient.create(`${gw.ws}/connection/websocket`, { token: await signToken(user) });
  await c.connect();
  return c;
}

/** The error a publish was refused with (undefined: it was taken). */
async function publishError(c: SdkClient, channel: string, data: unknown): Promise<{ code: number; message: string } | undefined> {
  return c.centrifuge.publish(channel, data).then(() => undefined, (err: { code: number; message: string }) => ({ code: err.code, message: err.message }));
}

/** Subscribes, publishes one message, waits for it to come back from the stream (stored), unsubscribes; the publish's error if refused. */
async function createRoom(c: SdkClient, channel: string): Promise<{ code: number; message: string } | undefined> {
  const sub = await c.subscribe(channel);
  const before = c.data(channel).length;
  const err = await publishError(c, channel, { created: channel });
  if (!err) await c.waitFor(channel, before + 1);
  sub.unsubscribe();
  c.centrifuge.removeSubscription(sub);
  return err;
}

/** Opens `/chat/<room>`, sends one line, and returns how the socket ended: its own line back, or a close. */
async function chatOnce(gw: ServiceProcess, room: string, text: string): Promise<string> {
  await using s = await TestSocket.open(`${gw.ws}/chat/${room}`);
  s.send(text);
  await waitFor("an echo or a close", () => s.messages.length > 0 || s.closeCode !== undefined, 5000, 10);
  return s.closeCode === undefined ? s.messages[0]! : `closed ${s.closeCode} ${s.closeReason}`;
}

describe("CHANNEL_CREATE_RATE_PER_MIN=1, CHANNEL_CREATE_BURST=3", () => {
  test("a user's fourth new room in a row is refused with 111 (its other connections too); everything else it does still works", async () => {
    await using nats = await TestNats.start();
    await using gw = await gatewayOn(nats, { CHANNEL_CREATE_RATE_PER_MIN: "1", CHANNEL_CREATE_BURST: "3" });
    await using alice = await client(gw, "creator-alice");
    for (let i = 0; i < 3; i++) expect(await createRoom(alice, `chat:fresh-${i}`)).toBeUndefined();
    expect(await createRoom(alice, "chat:fresh-3")).toEqual({ code: 111, message: "too many requests" });
    await using again = await client(gw, "creator-alice");
    expect(await createRoom(again, "chat:fresh-4")).toEqual({ code: 111, message: "too many requests" });
    expect(await metric(gw.http, "rt_rejections_total", 'reason="channel_create_rate"')).toBe(2);

    // Rooms with a history are not created again: publishing there goes on, as do history and other users' creations.
    const sub = await alice.subscribe("chat:fresh-0");
    expect(await publishError(alice, "chat:fresh-0", { n: "again" })).toBeUndefined();
    await alice.waitFor("chat:fresh-0", 2);
    expect(alice.data("chat:fresh-0")).toEqual([{ created: "chat:fresh-0" }, { n: "again" }]);
    expect((await sub.history({ limit: 10 })).publications.map((p) => p.data)).toEqual([{ created: "chat:fresh-0" }, { n: "again" }]);
    await using bob = await client(gw, "creator-bob");
    expect(await createRoom(bob, "chat:bobs")).toBeUndefined();
    await alice.subscribe("chat:bobs");
    expect(await publishError(alice, "chat:bobs", { n: "in bob's" })).toBeUndefined();
    await alice.waitFor("chat:bobs", 1);
    expect(alice.disconnects).toEqual([]);
  }, 30_000);

  test("/chat/ sockets spend their client address's allowance: the fourth new room closes with 1008 `channel create rate`; rooms with a history still take messages", async () => {
    await using nats = await TestNats.start();
    await using gw = await gatewayOn(nats, { CHANNEL_CREATE_RATE_PER_MIN: "1", CHANNEL_CREATE_BURST: "3" });
    for (let i = 0; i < 3; i++) expect(await chatOnce(gw, `legacy-${i}`, "hi")).toBe(`Room legacy-${i}: hi`);
    expect(await chatOnce(gw, "legacy-3", "hi")).toBe("closed 1008 channel create rate");
    // A room with a history: once the gateway has looked it up (a subscriber here placed it), messages are not creations.
    const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await waitFor("legacy-0 stored", async () => (await jsm.streams.getMessage(ROOMS_STREAM, { last_by_subj: roomSubject("legacy-0") })) !== null);
    await nc.close();
    await using watcher = await client(gw, "legacy-watcher");
    await watcher.subscribe("chat:legacy-0");
    expect(await chatOnce(gw, "legacy-0", "still open")).toBe("Room legacy-0: still open");
    await watcher.waitFor("chat:legacy-0", 1);
    expect(watcher.data("chat:legacy-0")).toEqual([{ text: "still open" }]);
    // A signed-in user's allowance is its own, not the address's.
    expect(await createRoom(watcher, "chat:watchers")).toBeUndefined();
  }, 30_000);
});

test("the defaults let one user create 60 rooms in a minute, and one client address 60 through /chat/", async () => {
  await using nats = await TestNats.start();
  await using gw = await gatewayOn(nats, { RATE_LIMIT_PER_SEC: "0" }); // the command rate is not what is measured here
  await using carol = await client(gw, "sixty-carol");
  const refused: string[] = [];
  for (let i = 0; i < 60; i++) if (await createRoom(carol, `chat:sixty-${i}`)) refused.push(`chat:sixty-${i}`);
  for (let i = 0; i < 60; i++) {
    const outcome = await chatOnce(gw, `sixty-legacy-${i}`, "hi");
    if (outcome !== `Room sixty-legacy-${i}: hi`) refused.push(`/chat/sixty-legacy-${i}: ${outcome}`);
  }
  expect(refused).toEqual([]);
}, 60_000);
