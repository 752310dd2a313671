// One size limit for the whole publication path: whatever is stored (and acknowledged) is relayed
// live by every gateway, and whatever would not be relayed is refused before it is stored. Each path
// is tried at its limit (delivered live on the other gateway, to a protocol subscriber and a /chat/
// or /notifications socket) and one byte over it (refused with an error naming the limit, nothing
// stored). The gateways and the notifier share MAX_MESSAGE_BYTES, as documented.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { MAX_STORED_NOTIFICATION_BYTES, NOTIFICATIONS_STREAM, ROOMS_STREAM, roomSubject, userStoreSubject } from "@rt/protocol";
import { NATS_ADMIN, SdkClient, TestSocket, TestSystem, signToken, waitFor } from "@rt/testkit";

const MAX = 4096;
const KEY = "limits-key";
let sys: TestSystem;
let nc: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  sys = await TestSystem.start({
    gateways: 2,
    notifier: true,
    gatewayEnv: { MAX_MESSAGE_BYTES: String(MAX), RATE_LIMIT_PER_SEC: "0" },
    notifierEnv: { MAX_MESSAGE_BYTES: String(MAX), NOTIFIER_TOKENS: KEY },
  });
  nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
});

type Answer = { result?: Record<string, unknown>; error?: { code: number; message: string }; replies?: Array<Record<string, unknown>> };

async function api(transport: "http" | "nats", method: string, body: unknown): Promise<Answer> {
  if (transport === "nats") return JSON.parse(new TextDecoder().decode((await nc.request(`api.${method}`, JSON.stringify(body), { timeout: 10_000 })).data)) as Answer;
  const r = await fetch(`${sys.notifier!.http}/api/${method}`, { method: "POST", headers: { "x-api-key": KEY }, body: JSON.stringify(body) });
  expect(r.status).toBe(200);
  return (await r.json()) as Answer;
}

/** How many publications the ROOMS stream holds for `room`. */
async function storedInRoom(room: string): Promise<number> {
  const info = await jsm.streams.info(ROOMS_STREAM, { subjects_filter: roomSubject(room) });
  return info.state.subjects?.[roomSubject(room)] ?? 0;
}

/** How many notifications the NOTIFICATIONS stream holds for `user`. */
async function storedForUser(user: string): Promise<number> {
  const info = await jsm.streams.info(NOTIFICATIONS_STREAM, { subjects_filter: userStoreSubject(user) });
  return info.state.subjects?.[userStoreSubject(user)] ?? 0;
}

/** A room's members on gateway 1: a protocol subscriber and a `/chat/` socket, both placed. */
async function members(room: string): Promise<{ sdk: SdkClient; chat: TestSocket } & AsyncDisposable> {
  const sdk = SdkClient.create(`${sys.gw(1).ws}/connection/websocket`, { token: await signToken(`watcher-${room}`) });
  await sdk.connect();
  await sdk.subscribe(`chat:${room}`);
  const chat = await TestSocket.open(`${sys.gw(1).ws}/chat/${room}`);
  await waitFor("both members in presence", async () => ((await api("http", "presence_stats", { channel: `chat:${room}` })).result?.num_clients ?? 0) === 2);
  return { sdk, chat, [Symbol.asyncDispose]: async () => { await sdk[Symbol.asyncDispose](); await chat[Symbol.asyncDispose](); } };
}

/** Data whose JSON is exactly `bytes` long, with a `text` (so `/chat/` sockets see it too). */
const dataOf = (bytes: number, fill = "x"): { text: string } => ({ text: fill.repeat(bytes - '{"text":""}'.length) });

describe.each(["http", "nats"] as const)("the server API over %s", (t) => {
  test("publish: data of exactly MAX_MESSAGE_BYTES is delivered live on the other gateway; one byte more is 107 naming the limit, nothing stored", async () => {
    const room = `api-limit-${t}`;
    await using m = await members(room);
    const at = dataOf(MAX);
    expect(JSON.stringify(at).length).toBe(MAX);
    const ok = await api(t, "publish", { channel: `chat:${room}`, data: at });
    expect(ok.error).toBeUndefined();
    await m.sdk.waitFor(`chat:${room}`, 1);
    expect(m.sdk.data(`chat:${room}`)).toEqual([at]);
    expect(await m.chat.waitForMessages(1)).toEqual([`Room ${room}: ${at.text}`]);

    const over = await api(t, "publish", { channel: `chat:${room}`, data: dataOf(MAX + 1) });
    expect(over).toEqual({ error: { code: 107, message: `data is ${MAX + 1} bytes; at most ${MAX} (MAX_MESSAGE_BYTES)` } });
    expect(await storedInRoom(room)).toBe(1);
    // What escaping adds counts: 2,000 quotes are 4,000 bytes of JSON.
    expect((await api(t, "publish", { channel: `chat:${room}`, data: { text: '"'.repeat(2100) } })).error?.code).toBe(107);
    expect(await storedInRoom(room)).toBe(1);
  });

  test("broadcast: at the limit every channel gets it; one byte over refuses the whole call, nothing stored anywhere", async () => {
    const rooms = [`bc-limit-a-${t}`, `bc-limit-b-${t}`];
    await using a = await members(rooms[0]!);
    await using b = await members(rooms[1]!);
    const over = await api(t, "broadcast", { channels: rooms.map((r) => `chat:${r}`), data: dataOf(MAX + 1) });
    expect(over).toEqual({ error: { code: 107, message: `data is ${MAX + 1} bytes; at most ${MAX} (MAX_MESSAGE_BYTES)` } });
    expect([await storedInRoom(rooms[0]!), await storedInRoom(rooms[1]!)]).toEqual([0, 0]);
    const at = dataOf(MAX, "y");
    const ok = await api(t, "broadcast", { channels: rooms.map((r) => `chat:${r}`), data: at });
    expect((ok.result?.responses as Answer[]).map((r) => r.error)).toEqual([undefined, undefined]);
    for (const [i, m] of [a, b].entries()) {
      await m.sdk.waitFor(`chat:${rooms[i]}`, 1);
      expect(m.sdk.data(`chat:${rooms[i]}`)).toEqual([at]);
      expect(await m.chat.waitForMessages(1)).toEqual([`Room ${rooms[i]}: ${at.text}`]);
    }
  });

  test("batch: a publish at the limit is delivered, one a byte over gets its own 107 and is not stored", async () => {
    const room = `batch-limit-${t}`;
    await using m = await members(room);
    const at = dataOf(MAX, "z");
    const r = await api(t, "batch", { commands: [{ publish: { channel: `chat:${room}`, data: dataOf(MAX + 1) } }, { publish: { channel: `chat:${room}`, data: at } }] });
    expect(r.replies![0]).toEqual({ error: { code: 107, message: `data is ${MAX + 1} bytes; at most ${MAX} (MAX_MESSAGE_BYTES)` } });
    expect(r.replies![1]!.publish).toMatchObject({ offset: expect.any(Number) });
    await m.sdk.waitFor(`chat:${room}`, 1);
    expect(m.sdk.data(`chat:${room}`)).toEqual([at]);
    expect(await m.chat.waitForMessages(1)).toEqual([`Room ${room}: ${at.text}`]);
    expect(await storedInRoom(room)).toBe(1);
  });
});

/**
 * A notification request (raw JSON) whose stored form is exactly `bytes` long, for a user with none
 * yet: the notifier adds `id` (22 characters), `created_at` (24) and `prev_seq`, and serializes `data`
 * again, where each `1e20` becomes 21 bytes: the request stays within its own limit of 256 KiB.
 */
function notificationOf(user: string, bytes: number): string {
  const n = Array(100).fill("1e20").join(",");
  const stored = (pad: string) => JSON.stringify({ user_id: user, body: "at the limit", data: JSON.parse(`{"n":[${n}],"pad":"${pad}"}`) as unknown, id: "i".repeat(22), created_at: "2026-01-01T00:00:00.000Z", prev_seq: 0 }).length;
  const raw = `{"user_id":${JSON.stringify(user)},"body":"at the limit","data":{"n":[${n}],"pad":"${"p".repeat(bytes - stored(""))}"}}`;
  expect(raw.length).toBeLessThanOrEqual(256 * 1024);
  return raw;
}

describe.each(["http", "nats"] as const)("notifications over %s", (t) => {
  const send = async (raw: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    if (t === "nats") {
      const json = JSON.parse(new TextDecoder().decode((await nc.request("notifier.send", raw, { timeout: 10_000 })).data)) as Record<string, unknown>;
      return { status: typeof json.status === "number" ? json.status : 202, json };
    }
    const r = await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: raw });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };

  test("a notification of exactly the stored limit is delivered live to /notifications and #<user> on a gateway; one byte more is 413, nothing stored", async () => {
    const over = `limit-over-${t}`;
    const refused = await send(notificationOf(over, MAX_STORED_NOTIFICATION_BYTES + 1));
    expect(refused.status).toBe(413);
    expect((refused.json.errors as Array<{ message: string }>)[0]!.message).toBe(`the notification is ${MAX_STORED_NOTIFICATION_BYTES + 1} bytes as stored; at most ${MAX_STORED_NOTIFICATION_BYTES}`);
    expect(await storedForUser(over)).toBe(0);

    const user = `limit-at-${t}`;
    await using socket = await TestSocket.open(`${sys.gw(1).ws}/notifications?token=${await signToken(user)}`);
    await using sdk = SdkClient.create(`${sys.gw(1).ws}/connection/websocket`, { token: await signToken(user) });
    await sdk.connect();
    const ok = await send(notificationOf(user, MAX_STORED_NOTIFICATION_BYTES));
    expect(ok.status).toBe(202);
    const frame = JSON.parse((await socket.waitForMessages(1))[0]!) as { seq: number; body: string };
    expect([frame.seq, frame.body]).toEqual([ok.json.seq as number, "at the limit"]);
    await sdk.waitFor(`#${user}`, 1);
    expect((sdk.data(`#${user}`)[0] as { seq: number }).seq).toBe(ok.json.seq as number);
  });

  test("data that grows when serialized again (1e20 is 21 bytes) past the stored limit is 413, nothing stored", async () => {
    const user = `limit-grow-${t}`;
    // About 75 KB as sent, about 330 KB once `data` is serialized again.
    const raw = `{"user_id":${JSON.stringify(user)},"body":"b","data":{"n":[${Array(15_000).fill("1e20").join(",")}]}}`;
    const r = t === "nats"
      ? { status: (JSON.parse(new TextDecoder().decode((await nc.request("notifier.send", raw, { timeout: 10_000 })).data)) as { status?: number }).status }
      : { status: (await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" }, body: raw })).status };
    expect(r.status).toBe(413);
    expect(await storedForUser(user)).toBe(0);
  });
});

/** The room payload a `/chat/` frame's text makes, minus the text as escaped: `{"data":{"text":""},"info":{"user":"","client":"<36>"}}`. */
const CHAT_ENVELOPE = JSON.stringify({ data: { text: "" }, info: { user: "", client: "c".repeat(36) } }).length;

describe("/chat/ frames", () => {
  test("a frame of MAX_MESSAGE_BYTES is delivered on the other gateway; a frame within it that escapes past what gateways relay closes with 1009, nothing stored", async () => {
    const room = "chat-frame-limit";
    await using m = await members(room);
    await using sender = await TestSocket.open(`${sys.gw(0).ws}/chat/${room}`);
    const plain = "a".repeat(MAX);
    sender.send(plain);
    await m.sdk.waitFor(`chat:${room}`, 1);
    expect(await m.chat.waitForMessages(1)).toEqual([`Room ${room}: ${plain}`]);

    // Stored exactly at MAX_MESSAGE_BYTES + 2 KiB (what the gateways relay): 400 control characters are 2,400 bytes escaped.
    const relayed = MAX + 2048;
    const atLimit = "\u0001".repeat(400) + "b".repeat(relayed - CHAT_ENVELOPE - 400 * 6);
    expect(atLimit.length).toBeLessThanOrEqual(MAX);
    sender.send(atLimit);
    await m.sdk.waitFor(`chat:${room}`, 2);
    expect((await m.chat.waitForMessages(2))[1]).toBe(`Room ${room}: ${atLimit}`);

    sender.send(`${atLimit}b`);
    expect(await sender.closed()).toBe(1009);
    // Nothing more was stored: a marker from another socket is the next thing delivered.
    await using marker = await TestSocket.open(`${sys.gw(0).ws}/chat/${room}`);
    marker.send("marker");
    await m.sdk.waitFor(`chat:${room}`, 3);
    expect(m.sdk.data(`chat:${room}`)).toEqual([{ text: plain }, { text: atLimit }, { text: "marker" }]);
    expect(await storedInRoom(room)).toBe(3);

    // A frame of control characters only: six times its size once escaped.
    await using flood = await TestSocket.open(`${sys.gw(0).ws}/chat/${room}`);
    flood.send("\u0002".repeat(MAX));
    expect(await flood.closed()).toBe(1009);
    expect(await storedInRoom(room)).toBe(3);
  });
});

/**
 * Raw data JSON whose canonical form (as a gateway parses and serializes it again) is exactly
 * `bytes` long while the raw text is far shorter: `1e20` (4 bytes) becomes 21.
 */
function growingData(bytes: number): { raw: string; value: { n: number[]; text: string } } {
  const n = Array(100).fill("1e20").join(",");
  const base = JSON.stringify(JSON.parse(`{"n":[${n}],"text":""}`)).length;
  const raw = `{"n":[${n}],"text":"${"t".repeat(bytes - base)}"}`;
  return { raw, value: JSON.parse(raw) as { n: number[]; text: string } };
}

/** The reply to command `id` among a JSON protocol socket's frames (pushes come in between). */
async function replyTo(s: TestSocket, id: number): Promise<{ error?: { code: number; message: string } }> {
  const find = () => s.messages.flatMap((m) => m.split("\n")).map((l) => JSON.parse(l) as { id?: number }).find((r) => r.id === id);
  await waitFor(`the reply to command ${id}`, () => find() !== undefined, 5000, 10);
  return find() as { error?: { code: number; message: string } };
}

describe.each(["json", "protobuf"] as const)("client protocol publish (%s)", (encoding) => {
  test("data of exactly MAX_MESSAGE_BYTES as stored is delivered on the other gateway; one byte more is 107 naming the limit, nothing stored", async () => {
    const room = `proto-limit-${encoding}`;
    await using m = await members(room);
    const at = growingData(MAX);
    const over = growingData(MAX + 1);
    expect(JSON.stringify(at.value).length).toBe(MAX);
    let publish: (raw: string) => Promise<{ code?: number; message?: string }>;
    let close: () => Promise<void>;
    if (encoding === "json") {
      const s = await TestSocket.open(`${sys.gw(0).ws}/connection/websocket`);
      s.send({ id: 1, connect: { token: await signToken(`pub-${encoding}`) } });
      await s.waitForMessages(1);
      s.send({ id: 2, subscribe: { channel: `chat:${room}` } });
      await s.waitForMessages(2);
      let id = 10;
      publish = async (raw) => {
        const frame = `{"id":${++id},"publish":{"channel":"chat:${room}","data":${raw}}}`;
        expect(frame.length).toBeLessThan(MAX); // within the frame limit
        s.send(frame);
        return (await replyTo(s, id)).error ?? {};
      };
      close = () => s[Symbol.asyncDispose]();
    } else {
      const c = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken(`pub-${encoding}`) }, "protobuf");
      await c.connect();
      const sub = await c.subscribe(`chat:${room}`);
      publish = async (raw) => {
        try {
          await sub.publish(new TextEncoder().encode(raw));
          return {};
        } catch (err) {
          return err as { code: number; message: string };
        }
      };
      close = () => c[Symbol.asyncDispose]();
    }
    try {
      expect(await publish(at.raw)).toEqual({});
      await m.sdk.waitFor(`chat:${room}`, 1);
      expect(m.sdk.data(`chat:${room}`)).toEqual([at.value]);
      expect(await m.chat.waitForMessages(1)).toEqual([`Room ${room}: ${at.value.text}`]);
      expect(await publish(over.raw)).toMatchObject({ code: 107, message: `data is ${MAX + 1} bytes; at most ${MAX} (MAX_MESSAGE_BYTES)` });
      expect(await publish('{"text":"marker"}')).toEqual({});
      await m.sdk.waitFor(`chat:${room}`, 2);
      expect(m.sdk.data(`chat:${room}`)).toEqual([at.value, { text: "marker" }]);
      expect(await storedInRoom(room)).toBe(2);
    } finally {
      await close();
    }
  });
});
