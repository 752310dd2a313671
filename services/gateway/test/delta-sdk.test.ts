// The real `centrifuge` SDK (JSON and Protobuf builds, unmodified) with `delta: 'fossil'` against a
// tiny Bun WebSocket server that speaks just enough of the protocol: the gateway's codecs, a
// connect reply, subscribe replies built with channels/delta (negotiation, `delta: true`,
// recovered publications), and pushes fanned out by DeltaFanout on real Bun topics. What the SDK
// hands the app must be every publication's data, exactly once, in order; its own delta
// statistics show that deltas were applied.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ServerWebSocket } from "bun";
import type { Subscription } from "centrifuge";
import { Prng, SdkClient } from "@rt/testkit";
import { DeltaFanout } from "../src/channels/delta/delta-fanout.ts";
import { negotiateDelta } from "../src/channels/delta/negotiate.ts";
import { ProtobufCodec } from "../src/protocols/centrifugo/codec-protobuf.ts";
import { JsonCodec } from "../src/protocols/centrifugo/codec-json.ts";
import type { Codec } from "../src/protocols/centrifugo/codec.ts";
import type { ProtocolPublication } from "../src/protocols/centrifugo/push.ts";

const EPOCH = "e1";
const DELTA_CHANNEL = "scores:board";
const PLAIN_CHANNEL = "plain:board";
const codecs: Record<"json" | "protobuf", Codec> = { json: new JsonCodec(), protobuf: new ProtobufCodec() };

interface SocketData {
  enc: "json" | "protobuf";
  client: string;
  /** Channels this socket subscribed to with deltas negotiated. */
  delta: Set<string>;
}
type Ws = ServerWebSocket<SocketData>;

/** What the server publishes: every channel's publications, kept for recoveries. */
const history = new Map<string, ProtocolPublication[]>();
let server: ReturnType<typeof Bun.serve<SocketData>>;
let fanout: DeltaFanout;
/** While set, subscribe commands wait for it (a test publishes what a reconnecting client misses). */
let gate: Promise<void> | undefined;
const sockets = new Set<Ws>();
let clients = 0;

function handle(ws: Ws, cmd: Record<string, any>): void {
  const codec = codecs[ws.data.enc];
  if (cmd.connect) {
    ws.send(codec.encode([{ id: cmd.id, connect: { client: ws.data.client, version: "delta-test" } }]));
    return;
  }
  if (cmd.subscribe) {
    const req = cmd.subscribe as { channel: string; delta?: string; recover?: boolean; offset?: number; epoch?: string };
    const allowed = req.channel === DELTA_CHANNEL ? (["fossil"] as const) : ([] as const);
    const delta = negotiateDelta(req.delta, allowed);
    if (delta === "bad_request") return ws.close(3501, "bad request");
    const pubs = history.get(req.channel) ?? [];
    const top = pubs.at(-1)?.offset ?? 0;
    const missed = req.recover && req.epoch === EPOCH ? pubs.filter((p) => p.offset! > (req.offset ?? 0)) : undefined;
    // Offsets have gaps here (as stream sequences do): the position is recoverable when it is one this server published.
    const recovered = missed !== undefined && (!req.offset || pubs.some((p) => p.offset === req.offset));
    const back = delta && recovered ? fanout.recovered(missed, ws.data.enc) : { publications: recovered ? missed : [], holds: undefined };
    const result = {
      recoverable: true,
      epoch: EPOCH,
      offset: recovered ? (req.offset ?? 0) : top,
      recovered,
      was_recovering: !!req.recover,
      publications: back.publications,
      ...(delta ? { delta: true } : {}),
    };
    ws.send(codec.encode([{ id: cmd.id, subscribe: result }]));
    if (delta) {
      ws.data.delta.add(req.channel);
      fanout.join(ws, codec.pushes, back.holds);
    } else ws.subscribe(codec.pushes.topic(req.channel));
    return;
  }
  if (cmd.unsubscribe) {
    if (ws.data.delta.delete(cmd.unsubscribe.channel)) fanout.leave(ws, codec.pushes);
    ws.send(codec.encode([{ id: cmd.id, unsubscribe: {} }]));
  }
}

/** Publishes `data` on `channel`: delta subscribers through DeltaFanout, plain ones on the plain topics. */
function publish(channel: string, data: unknown): void {
  const list = history.get(channel) ?? [];
  history.set(channel, list);
  const pub: ProtocolPublication = { data, offset: (list.at(-1)?.offset ?? 0) + 3, info: { user: "publisher", client: "p" } }; // offsets with gaps
  list.push(pub);
  if (channel === DELTA_CHANNEL) fanout.publish(JSON.stringify(data), { offset: pub.offset, info: pub.info }, true);
  else for (const codec of Object.values(codecs)) server.publish(codec.pushes.topic(channel), codec.pushes.frame(channel, { pub }));
}

beforeAll(() => {
  server = Bun.serve<SocketData>({
    port: 0,
    fetch(req, srv) {
      const pb = (req.headers.get("sec-websocket-protocol") ?? "").includes("centrifuge-protobuf");
      const data: SocketData = { enc: pb ? "protobuf" : "json", client: `client-${++clients}`, delta: new Set() };
      if (srv.upgrade(req, { data, headers: pb ? { "Sec-WebSocket-Protocol": "centrifuge-protobuf" } : {} })) return undefined;
      return new Response("upgrade required", { status: 426 });
    },
    websocket: {
      open(ws) {
        sockets.add(ws);
      },
      message(ws, message) {
        const cmds = codecs[ws.data.enc].decode(message as string | Buffer);
        if (!cmds) return ws.close(3501, "bad request");
        void (async () => {
          for (const cmd of cmds as Array<Record<string, any>>) {
            if (cmd.subscribe && gate) await gate;
            if (ws.readyState === 1) handle(ws, cmd);
          }
        })();
      },
      close(ws) {
        sockets.delete(ws);
        if (ws.data.delta.size > 0) fanout.leave(ws, codecs[ws.data.enc].pushes);
      },
    },
  });
  fanout = new DeltaFanout(DELTA_CHANNEL, (topic, frame) => server.publish(topic, frame));
});
afterAll(() => {
  server?.stop(true);
});

const url = () => `ws://127.0.0.1:${server.port}/connection/websocket`;
const seed = Prng.seedFromEnv();
const rng = new Prng(seed);

/** A ~4 KB scoreboard and its next version, a little changed (names in several scripts). */
let board = {
  rev: 0,
  rows: Array.from({ length: 40 }, (_, id) => ({ id, team: rng.pick(["Ана", "Bo", "東京", "Zoë", "🚀 crew", "Ölçü"]) + id, points: rng.int(0, 500), trend: "=" })),
};
function nextBoard(): typeof board {
  board = structuredClone(board);
  board.rev++;
  const row = rng.pick(board.rows);
  row.points += rng.int(1, 5);
  row.trend = rng.pick(["+", "=", "-"]);
  return board;
}

interface DeltaStats {
  numPublications: number;
  numFullPayloads: number;
  numDeltaPayloads: number;
  bytesReceived: number;
  bytesDecoded: number;
}
const statsOf = (sub: Subscription) => (sub as unknown as { deltaStats(): DeltaStats }).deltaStats();

describe(`the SDK with delta: 'fossil' (seed ${seed})`, () => {
  test("JSON and Protobuf: the first publication whole, then deltas the SDK applies; a namespace without deltas gets plain publications", async () => {
    await using j = SdkClient.create(url(), {}, "json");
    await using p = SdkClient.create(url(), {}, "protobuf");
    await j.connect();
    await p.connect();
    const subJ = await j.subscribe(DELTA_CHANNEL, { delta: "fossil" });
    const subP = await p.subscribe(DELTA_CHANNEL, { delta: "fossil" });
    const plain = await j.subscribe(PLAIN_CHANNEL, { delta: "fossil" }); // asked, not allowed: plain publications
    const sent: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      const doc = nextBoard();
      sent.push(doc);
      publish(DELTA_CHANNEL, doc);
      publish(PLAIN_CHANNEL, { n: i });
      if (i % 3 === 2) await j.waitFor(DELTA_CHANNEL, i + 1); // some publications alone, some three to a frame
    }
    await j.waitFor(DELTA_CHANNEL, 30);
    await p.waitFor(DELTA_CHANNEL, 30);
    await j.waitFor(PLAIN_CHANNEL, 30);
    expect(j.data(DELTA_CHANNEL)).toEqual(sent);
    expect(p.data(DELTA_CHANNEL)).toEqual(sent);
    expect(j.data(PLAIN_CHANNEL)).toEqual(Array.from({ length: 30 }, (_, n) => ({ n })));
    expect(p.publications.every((x) => x.binary)).toBe(true);
    for (const sub of [subJ, subP]) {
      const stats = statsOf(sub);
      expect(stats.numPublications).toBe(30);
      expect(stats.numDeltaPayloads).toBeGreaterThanOrEqual(25);
      expect(stats.bytesReceived).toBeLessThan(stats.bytesDecoded / 4);
    }
    expect(statsOf(plain).numPublications).toBe(0); // not negotiated: the SDK read them as plain
    expect(j.errors).toEqual([]);
    expect(p.errors).toEqual([]);
  });

  test("a reconnect recovers what was missed (the first whole, then deltas kept from the fan-out); live deltas go on after it", async () => {
    for (const encoding of ["json", "protobuf"] as const) {
      await using online = SdkClient.create(url(), {}, encoding === "json" ? "protobuf" : "json"); // holds a base while the other is away
      await using c = SdkClient.create(url(), {}, encoding);
      await online.connect();
      await c.connect();
      await online.subscribe(DELTA_CHANNEL, { delta: "fossil" });
      const sub = await c.subscribe(DELTA_CHANNEL, { delta: "fossil" });
      const before = c.data(DELTA_CHANNEL).length;
      const sent: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        sent.push(nextBoard());
        publish(DELTA_CHANNEL, board);
        await c.waitFor(DELTA_CHANNEL, before + i + 1); // one a turn: the first whole, the next two deltas
      }
      // The server drops c's socket (a code the SDK reconnects on); its subscribe waits until the test has published more.
      let open!: () => void;
      gate = new Promise<void>((r) => (open = r));
      try {
        const ws = [...sockets].find((s) => s.data.client === c.clientId)!;
        c.subscribed.length = 0;
        const reconnecting = new Promise((r) => c.centrifuge.once("connecting", r));
        ws.close(3000, "test reconnect");
        await reconnecting;
        const seen = online.data(DELTA_CHANNEL).length;
        for (let i = 0; i < 4; i++) {
          sent.push(nextBoard());
          publish(DELTA_CHANNEL, board);
        }
        await online.waitFor(DELTA_CHANNEL, seen + 4); // the online one got them as deltas, which are kept
      } finally {
        gate = undefined;
        open();
      }
      await c.until(() => c.subscribed.some((s) => s.channel === DELTA_CHANNEL), "resubscribed");
      expect(c.subscribed.find((s) => s.channel === DELTA_CHANNEL)).toMatchObject({ wasRecovering: true, recovered: true });
      for (let i = 0; i < 3; i++) {
        sent.push(nextBoard());
        publish(DELTA_CHANNEL, board);
      }
      await c.waitFor(DELTA_CHANNEL, before + 10);
      expect(c.data(DELTA_CHANNEL).slice(before)).toEqual(sent);
      const stats = statsOf(sub);
      // Two whole ones in its life (its first, and the first recovered); every other one a delta.
      expect(stats.numFullPayloads).toBe(2);
      expect(stats.numDeltaPayloads).toBe(stats.numPublications - 2);
      expect(c.errors).toEqual([]);
    }
  });

  test("an unknown delta type closes the connection with 3501 (bad request), as Centrifugo does", async () => {
    const ws = new WebSocket(url());
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    await new Promise((r) => (ws.onopen = r));
    ws.send(`{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"${DELTA_CHANNEL}","delta":"xdelta"}}`);
    expect(await closed).toBe(3501);
  });
});
