// Fossil deltas end to end: two real gateways sharing one nats-server, the notifier (the server
// API) and the official SDK, JSON and Protobuf builds, subscribing with `delta: 'fossil'`. What the
// SDK hands the app must be every publication's data, in order, through many deltas, after a
// recovery too; the SDK's own delta statistics show that it applied deltas.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Centrifuge, type Subscription } from "centrifuge";
import { Centrifuge as ProtobufCentrifuge } from "centrifuge/build/protobuf";
import { Prng, SdkClient, TestEventSource, TestSocket, TestSystem, signToken, waitFor, type SdkEncoding } from "@rt/testkit";

const FILE = {
  channel: {
    namespaces: [
      // History and recovery, deltas allowed: a publication goes as a delta when the server API says `delta: true`.
      { name: "scores", history_size: 100, history_ttl: "300s", force_recovery: true, allow_subscribe_for_client: true, allowed_delta_types: ["fossil"] },
      // No history, every publication a delta (delta_publish); clients publish.
      { name: "feed", allow_subscribe_for_client: true, allow_publish_for_subscriber: true, allowed_delta_types: ["fossil"], delta_publish: true },
      // Deltas not allowed: a subscription asking for them gets plain publications.
      { name: "plain", allow_subscribe_for_client: true },
    ],
  },
};

let dir: string;
let sys: TestSystem;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rt-delta-"));
  const file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify(FILE));
  sys = await TestSystem.start({ gateways: 2, notifier: true, gatewayEnv: { CHANNELS_FILE: file }, notifierEnv: { CHANNELS_FILE: file } });
});
afterAll(async () => {
  await sys?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

const url = (gw: number) => `${sys.gw(gw).ws}/connection/websocket`;
async function sdk(gw: number, user: string, encoding: SdkEncoding): Promise<SdkClient> {
  const c = SdkClient.create(url(gw), { token: await signToken(user) }, encoding);
  await c.connect();
  return c;
}
async function api(method: string, body: unknown): Promise<{ result?: Record<string, unknown>; error?: { code: number } }> {
  const r = await fetch(`${sys.notifier!.http}/api/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return (await r.json()) as { result?: Record<string, unknown>; error?: { code: number } };
}

const seed = Prng.seedFromEnv();
const rng = new Prng(seed);
type Board = { rev: number; rows: Array<{ id: number; team: string; points: number; trend: string }> };
/** A ~4 KB scoreboard, and its next versions, each a little changed (names in several scripts). */
function boards(): () => Board {
  let board: Board = {
    rev: 0,
    rows: Array.from({ length: 40 }, (_, id) => ({ id, team: rng.pick(["Ана", "Bo", "東京", "Zoë", "🚀 crew", "Ölçü"]) + id, points: rng.int(0, 500), trend: "=" })),
  };
  return () => {
    board = structuredClone(board);
    board.rev++;
    const row = rng.pick(board.rows);
    row.points += rng.int(1, 5);
    row.trend = rng.pick(["+", "=", "-"]);
    return board;
  };
}

interface DeltaStats {
  numPublications: number;
  numFullPayloads: number;
  numDeltaPayloads: number;
  bytesReceived: number;
  bytesDecoded: number;
}
const statsOf = (sub: Subscription) => (sub as unknown as { deltaStats(): DeltaStats }).deltaStats();

/** A raw JSON protocol session on `gw`: commands by id, replies by id, and how it closed. */
async function rawSession(gw: number) {
  const s = await TestSocket.open(url(gw));
  const lines = () => s.messages.flatMap((m) => m.split("\n")).map((l) => JSON.parse(l) as Record<string, any>);
  const reply = async (id: number) => {
    await waitFor(`reply ${id}`, () => lines().some((r) => r.id === id), 5000);
    return lines().find((r) => r.id === id)!;
  };
  s.send({ id: 1, connect: { token: await signToken("raw") } });
  expect((await reply(1)).connect).toBeDefined();
  return { s, lines, reply };
}

describe(`fossil deltas (seed ${seed}: FUZZ_SEED=${seed} repeats it)`, () => {
  test("the subscribe reply says delta: true where the namespace allows it, nothing where it does not; an unknown type closes with 3501", async () => {
    const { s, reply, lines } = await rawSession(0);
    s.send({ id: 2, subscribe: { channel: "scores:reply", delta: "fossil" } });
    expect((await reply(2)).subscribe).toMatchObject({ delta: true, recoverable: true });
    s.send({ id: 3, subscribe: { channel: "plain:reply", delta: "fossil" } });
    expect((await reply(3)).subscribe?.delta).toBeUndefined();
    s.send({ id: 4, subscribe: { channel: "scores:other" } });
    expect((await reply(4)).subscribe?.delta).toBeUndefined();
    // JSON: a delta subscription's data is the publication's JSON text as a string, a plain one's the value.
    expect((await api("publish", { channel: "scores:reply", data: { a: 1 }, delta: true, tags: { k: "v" } })).result).toBeDefined();
    expect((await api("publish", { channel: "scores:other", data: { a: 1 }, delta: true })).result).toBeDefined();
    await waitFor("pushes", () => lines().filter((l) => l.push).length >= 2, 5000);
    const pushes = lines().filter((l) => l.push).map((l) => l.push as { channel: string; pub: { data: unknown; tags?: unknown } });
    expect(pushes.find((p) => p.channel === "scores:reply")!.pub).toMatchObject({ data: '{"a":1}', tags: { k: "v" } });
    expect(pushes.find((p) => p.channel === "scores:other")!.pub.data).toEqual({ a: 1 });
    s.send({ id: 5, subscribe: { channel: "scores:bad", delta: "xdelta" } });
    expect(await s.closed()).toBe(3501);
  });

  test("server API publications with delta: true reach JSON and Protobuf subscribers on both gateways as deltas, one after another and in bursts; a plain namespace asking for deltas gets plain ones", async () => {
    const channel = "scores:board";
    const clients = [await sdk(0, "a", "json"), await sdk(0, "b", "protobuf"), await sdk(1, "c", "json"), await sdk(1, "d", "protobuf")];
    try {
      const subs = await Promise.all(clients.map((c) => c.subscribe(channel, { delta: "fossil" })));
      const plainSub = await clients[2]!.subscribe("plain:board", { delta: "fossil" });
      const next = boards();
      const sent: Board[] = [];
      for (let i = 0; i < 40; i++) {
        const doc = next();
        sent.push(doc);
        const publishing = api("publish", { channel, data: doc, delta: true });
        if (i % 4 !== 3) expect((await publishing).result?.offset).toBeGreaterThan(0); // some one at a time, some four at once
        else await Promise.all([publishing, api("publish", { channel: "plain:board", data: doc, delta: true })]);
      }
      for (const c of clients) await c.waitFor(channel, 40);
      await clients[2]!.waitFor("plain:board", 10);
      for (const c of clients) expect(c.data(channel)).toEqual(sent);
      for (const sub of subs) {
        const stats = statsOf(sub);
        expect(stats.numPublications).toBe(40);
        expect(stats.numFullPayloads).toBe(1); // its first
        expect(stats.numDeltaPayloads).toBe(39);
        expect(stats.bytesReceived).toBeLessThan(stats.bytesDecoded / 10);
      }
      expect(statsOf(plainSub).numPublications).toBe(0); // not negotiated: the SDK read them as plain
      expect(clients[2]!.data("plain:board")).toEqual(sent.filter((_, i) => i % 4 === 3));
      for (const c of clients) expect(c.errors).toEqual([]);
    } finally {
      for (const c of clients) await c[Symbol.asyncDispose]();
    }
  });

  test("a publication without delta goes whole and is the base of the next; broadcast's delta too, and skip_history's; a subscriber that joins later gets its first one whole", async () => {
    const channel = "scores:mixed";
    const early = await sdk(0, "e", "json");
    const late = await sdk(1, "l", "protobuf");
    try {
      const earlySub = await early.subscribe(channel, { delta: "fossil" });
      const next = boards();
      const sent: Board[] = [];
      for (let i = 0; i < 6; i++) {
        sent.push(next());
        if (i === 4) expect((await api("broadcast", { channels: [channel, "scores:elsewhere"], data: sent.at(-1), delta: true })).result?.responses).toHaveLength(2);
        else if (i === 5) expect((await api("publish", { channel, data: sent.at(-1), delta: true, skip_history: true })).result).toEqual({}); // delivered only: a delta all the same
        else await api("publish", { channel, data: sent.at(-1), ...(i === 3 ? {} : { delta: true }) });
        await early.waitFor(channel, i + 1);
      }
      const lateSub = await late.subscribe(channel, { delta: "fossil" });
      for (let i = 0; i < 3; i++) {
        sent.push(next());
        await api("publish", { channel, data: sent.at(-1), delta: true });
      }
      await early.waitFor(channel, 9);
      await late.waitFor(channel, 3);
      expect(early.data(channel)).toEqual(sent);
      expect(late.data(channel)).toEqual(sent.slice(6));
      expect(statsOf(earlySub)).toMatchObject({ numFullPayloads: 2, numDeltaPayloads: 7 }); // its first, and the one sent without delta
      expect(statsOf(lateSub)).toMatchObject({ numFullPayloads: 1, numDeltaPayloads: 2 });
    } finally {
      await early[Symbol.asyncDispose]();
      await late[Symbol.asyncDispose]();
    }
  });

  // `holder`: another delta subscriber on the recovering client's gateway holds the channel's base
  // meanwhile (its deltas are kept there, so the recovered ones after the first go as deltas); or
  // nobody does (the gateway let the channel go: everything recovered goes whole, still right).
  for (const [encoding, holder] of [["json", true], ["protobuf", true], ["json", false], ["protobuf", false]] as const) {
    test(`${encoding}, ${holder ? "another delta subscriber there" : "nobody else there"}: after a recovery the SDK reads the recovered publications (the first whole) and the live deltas that follow`, async () => {
      const channel = `scores:recover-${encoding}-${holder}`;
      const other = encoding === "json" ? "protobuf" : "json";
      const online = await sdk(holder ? 0 : 1, "o", other);
      const c = await sdk(0, "r", encoding);
      try {
        await online.subscribe(channel, { delta: "fossil" });
        const sub = await c.subscribe(channel, { delta: "fossil" });
        const next = boards();
        const sent: Board[] = [];
        const publish = async () => {
          sent.push(next());
          expect((await api("publish", { channel, data: sent.at(-1), delta: true })).result).toBeDefined();
        };
        for (let i = 0; i < 3; i++) await publish();
        await c.waitFor(channel, 3);
        c.centrifuge.disconnect();
        await c.until(() => c.centrifuge.state === "disconnected", "disconnected");
        // Its gateway let the subscription go (else it would still be fed, and hold the base).
        await waitFor("the subscription gone", async () => ((await api("channels", { pattern: channel })).result?.channels as Record<string, { num_clients: number }> | undefined)?.[channel]?.num_clients === 1, 5000);
        for (let i = 0; i < 5; i++) await publish();
        await online.waitFor(channel, 8);
        c.subscribed.length = 0;
        c.centrifuge.connect();
        await c.until(() => c.subscribed.some((s) => s.channel === channel), "resubscribed");
        expect(c.subscribed.find((s) => s.channel === channel)).toMatchObject({ wasRecovering: true, recovered: true });
        for (let i = 0; i < 4; i++) await publish();
        await c.waitFor(channel, 12);
        await online.waitFor(channel, 12);
        expect(c.data(channel)).toEqual(sent);
        expect(online.data(channel)).toEqual(sent);
        // Whole: its first and the first recovered; without a holder, every recovered one and the first live one after them.
        expect(statsOf(sub)).toMatchObject({ numPublications: 12, numFullPayloads: holder ? 2 : 7 });
        expect(c.errors).toEqual([]);
      } finally {
        await c[Symbol.asyncDispose]();
        await online[Symbol.asyncDispose]();
      }
    });
  }

  for (const encoding of ["json", "protobuf"] as const) {
    test(`${encoding}: a client that comes back on the other gateway recovers there (deltas that gateway kept), then reads its live deltas`, async () => {
      const channel = `scores:move-${encoding}`;
      // The SDK's WebSocket, pointed at whichever gateway `target` names when it connects.
      let target = url(0);
      const Redirected = class extends WebSocket {
        constructor(_url: string | URL, protocols?: string | string[]) {
          super(target, protocols);
        }
      };
      const opts = { token: await signToken("mover"), websocket: Redirected, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
      const c = new SdkClient(encoding === "json" ? new Centrifuge(url(0), opts) : (new ProtobufCentrifuge(url(0), opts) as unknown as Centrifuge));
      const holder = await sdk(1, "h", encoding); // a delta subscriber on the other gateway all along
      try {
        await c.connect();
        await holder.subscribe(channel, { delta: "fossil" });
        const sub = await c.subscribe(channel, { delta: "fossil" });
        const next = boards();
        const sent: Board[] = [];
        const publish = async () => {
          sent.push(next());
          expect((await api("publish", { channel, data: sent.at(-1), delta: true })).result).toBeDefined();
        };
        for (let i = 0; i < 3; i++) await publish();
        await c.waitFor(channel, 3);
        c.centrifuge.disconnect();
        await c.until(() => c.centrifuge.state === "disconnected", "disconnected");
        for (let i = 0; i < 5; i++) await publish();
        await holder.waitFor(channel, 8);
        target = url(1);
        c.subscribed.length = 0;
        c.centrifuge.connect();
        await c.until(() => c.subscribed.some((s) => s.channel === channel), "resubscribed");
        expect(c.subscribed.find((s) => s.channel === channel)).toMatchObject({ wasRecovering: true, recovered: true });
        for (let i = 0; i < 4; i++) await publish();
        await c.waitFor(channel, 12);
        expect(c.data(channel)).toEqual(sent);
        // Whole: its first (on gateway 0) and the first recovered (on gateway 1); every other one a delta.
        expect(statsOf(sub)).toMatchObject({ numPublications: 12, numFullPayloads: 2, numDeltaPayloads: 10 });
        expect(c.errors).toEqual([]);
      } finally {
        await c[Symbol.asyncDispose]();
        await holder[Symbol.asyncDispose]();
      }
    });
  }

  // The WebSocket refused (its endpoint answers the upgrade with 405), the SDK falls back to an HTTP
  // stream or SSE on gateway 0, its commands POSTed to gateway 1's /emulation.
  for (const kind of ["http_stream json", "http_stream protobuf", "sse"] as const) {
    test(`${kind}: deltas reach a subscriber on a stream transport as on a WebSocket`, async () => {
      const channel = `scores:stream-${kind.replace(/\W/g, "_")}`;
      const g = sys.gw(0);
      const transports = [
        { transport: "websocket", endpoint: `${g.ws}/connection/http_stream` },
        ...(kind === "sse" ? [] : [{ transport: "http_stream", endpoint: `${g.http}/connection/http_stream` }]),
        { transport: "sse", endpoint: `${g.http}/connection/sse` },
      ];
      const options = { token: await signToken(`stream-${kind.length}`), emulationEndpoint: `${sys.gw(1).http}/emulation`, fetch, readableStream: ReadableStream, eventsource: TestEventSource, websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
      const c = new SdkClient(kind === "http_stream protobuf" ? (new ProtobufCentrifuge(transports as never, options as never) as unknown as Centrifuge) : new Centrifuge(transports as never, options as never));
      const ws = await sdk(0, "beside", "json"); // a WebSocket delta subscriber on the same gateway
      try {
        await c.connect();
        expect((c.centrifuge as unknown as { _transport: { name(): string } })._transport.name()).toBe(kind === "sse" ? "sse" : "http_stream");
        const sub = await c.subscribe(channel, { delta: "fossil" });
        const wsSub = await ws.subscribe(channel, { delta: "fossil" });
        const next = boards();
        const sent: Board[] = [];
        for (let i = 0; i < 12; i++) {
          sent.push(next());
          await api("publish", { channel, data: sent.at(-1), delta: true });
          if (i % 3 === 2) await c.waitFor(channel, i + 1);
        }
        await c.waitFor(channel, 12);
        await ws.waitFor(channel, 12);
        expect(c.data(channel)).toEqual(sent);
        expect(ws.data(channel)).toEqual(sent);
        // Whole only first: a burst (publications that reach the gateway together) goes as deltas after it.
        for (const s of [sub, wsSub]) expect(statsOf(s)).toMatchObject({ numPublications: 12, numFullPayloads: 1, numDeltaPayloads: 11 });
      } finally {
        await c[Symbol.asyncDispose]();
        await ws[Symbol.asyncDispose]();
      }
    });
  }

  test("delta_publish: every client publication of a namespace without history reaches delta subscribers on both gateways as a delta", async () => {
    const channel = "feed:doc";
    const pub = await sdk(0, "p", "json");
    const subs = [await sdk(0, "s1", "protobuf"), await sdk(1, "s2", "json"), await sdk(1, "s3", "protobuf")];
    try {
      const ss = await Promise.all(subs.map((c) => c.subscribe(channel, { delta: "fossil" })));
      await pub.subscribe(channel); // a plain subscriber: values, not text
      const next = boards();
      const sent: Board[] = [];
      for (let i = 0; i < 20; i++) {
        sent.push(next());
        await pub.centrifuge.publish(channel, sent.at(-1));
        await pub.waitFor(channel, i + 1); // one publisher's order is kept on every gateway; waiting keeps gateways' turns apart too
      }
      for (const c of subs) await c.waitFor(channel, 20);
      for (const c of [pub, ...subs]) expect(c.data(channel)).toEqual(sent);
      for (const s of ss) expect(statsOf(s)).toMatchObject({ numPublications: 20, numFullPayloads: 1, numDeltaPayloads: 19 });
    } finally {
      for (const c of [pub, ...subs]) await c[Symbol.asyncDispose]();
    }
  });

  test("the same deltas on the SDK's fallbacks: http_stream (JSON, Protobuf) and sse, their WebSocket refused, their commands through the other gateway's /emulation", async () => {
    const channel = "feed:streams";
    const pub = await sdk(0, "p-streams", "json");
    const fallback = async (user: string, transport: "http_stream" | "sse", encoding: SdkEncoding): Promise<SdkClient> => {
      const g = sys.gw(1);
      const transports = [{ transport: "websocket", endpoint: `${g.ws}/connection/http_stream` }, { transport, endpoint: `${g.http}/connection/${transport}` }];
      const options = { token: await signToken(user), emulationEndpoint: `${sys.gw(0).http}/emulation`, fetch, readableStream: ReadableStream, eventsource: TestEventSource, websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
      const c = new SdkClient(encoding === "json" ? new Centrifuge(transports as never, options as never) : (new ProtobufCentrifuge(transports as never, options as never) as unknown as Centrifuge));
      await c.connect();
      return c;
    };
    const subs = [await fallback("hs-json", "http_stream", "json"), await fallback("hs-pb", "http_stream", "protobuf"), await fallback("sse", "sse", "json")];
    try {
      const ss = await Promise.all(subs.map((c) => c.subscribe(channel, { delta: "fossil" })));
      await pub.subscribe(channel);
      const next = boards();
      const sent: Board[] = [];
      for (let i = 0; i < 20; i++) {
        sent.push(next());
        await pub.centrifuge.publish(channel, sent.at(-1));
        await pub.waitFor(channel, i + 1);
      }
      for (const c of subs) await c.waitFor(channel, 20);
      for (const c of subs) expect(c.data(channel)).toEqual(sent);
      for (const s of ss) expect(statsOf(s)).toMatchObject({ numPublications: 20, numFullPayloads: 1, numDeltaPayloads: 19 });
    } finally {
      for (const c of [pub, ...subs]) await c[Symbol.asyncDispose]();
    }
  });
});
