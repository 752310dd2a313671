// StreamHub against a real nats-server: what a recovery is told and what the topic then gets, when the
// stream is ahead of this gateway's cursor and when the stream stored one publication twice.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers as natsHeaders, nanos, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { Server } from "bun";
import { ROOMS_STREAM } from "@rt/protocol";
import { Metrics, createLogger } from "@rt/runtime";
import { FaultProxy, NATS_ADMIN, TestNats, waitFor } from "@rt/testkit";
import type { Broker } from "../src/broker/broker.ts";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import { Outbox } from "../src/broker/outbox.ts";
import { StreamPublisher } from "../src/broker/stream-publisher.ts";
import { ChannelStore } from "../src/channels/channel-store.ts";
import { StreamEpoch } from "../src/channels/stream-epoch.ts";
import { StreamHub } from "../src/channels/stream-hub.ts";
import { roomsStream } from "../src/channels/streams.ts";
import { jsonPushes } from "../src/protocols/centrifugo/push.ts";
import { Rejections } from "../src/rejections.ts";
import { CreateLimit } from "../src/sessions/create-limit.ts";

const log = createLogger("test", "silent");
const stream = roomsStream({ size: 1000, ttlMs: 3_600_000, maxBytes: 64 * 1024 * 1024, maxMsgSize: 1024 * 1024, replicas: 1, dedupWindowMs: 120_000 });

/** A broker whose deliveries on held subjects wait (`hold`) until `let go`: a gateway whose copies of the stream's republishes are late. */
class LateBroker {
  held = false;
  /** Copies this says yes to are lost on their way (never delivered). */
  drop: (m: Msg) => boolean = () => false;
  private queue: Array<() => void> = [];
  readonly broker: Broker;
  constructor(inner: NatsBroker) {
    this.broker = new Proxy(inner, {
      get: (target, prop) => {
        if (prop === "acquire") {
          return (subject: string, onMsg: (m: Msg) => void) =>
            target.acquire(subject, (m) => {
              if (!subject.startsWith("chat.live.")) return onMsg(m);
              if (this.drop(m)) return;
              if (this.held) this.queue.push(() => onMsg(m));
              else onMsg(m);
            });
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    }) as unknown as Broker;
  }

  letGo(): void {
    this.held = false;
    for (const f of this.queue.splice(0)) f();
  }
}

/** One gateway's StreamHub for rooms, and what it wrote to its topics (the offsets of each frame). */
async function gateway(nats: TestNats, name: string, via?: FaultProxy) {
  const inner = new NatsBroker(log);
  const late = new LateBroker(inner);
  const broker = late.broker;
  const frames: number[] = [];
  const server = { publish: (_topic: string, frame: string | Uint8Array) => void frames.push(...[...String(frame).matchAll(/"offset":(\d+)/g)].map((m) => Number(m[1]))) } as unknown as Server<unknown>;
  const metrics = new Metrics();
  const outbox = new Outbox({ maxBytes: 1 << 20, maxAgeMs: 30_000 }, () => undefined);
  const publisher = new StreamPublisher(broker, outbox, { onRepeat: () => undefined, onError: () => undefined, onStored: () => undefined });
  const store = new ChannelStore(broker, stream, log, () => undefined);
  const epoch = new StreamEpoch(ROOMS_STREAM, broker, log, "the test");
  epoch.start((look) => store.onReady(look));
  const hub = new StreamHub(() => server, broker, store, epoch, publisher, [jsonPushes], 64 * 1024, new Rejections(metrics), log, () => undefined, new CreateLimit(1000, 1000));
  await inner.connect({ ...NATS_ADMIN, servers: [via?.url ?? nats.url], name });
  await waitFor("the stream in place", () => store.ready && epoch.current !== undefined);
  publisher.start();
  return {
    hub, late, frames, outbox, broker: inner, epoch: () => epoch.current!,
    async close() {
      publisher.stop();
      epoch.stop();
      store.stop();
      await inner.close();
    },
  };
}

let nats: TestNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
beforeAll(async () => {
  nats = await TestNats.start();
  nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

/** Stores `{text}` in `room` as a gateway would (id `id`, or none); returns its offset, and whether the stream took it as a repeat. */
async function store(room: string, text: string, id?: string): Promise<{ seq: number; duplicate: boolean }> {
  const h = natsHeaders();
  if (id) {
    h.set("Nats-Msg-Id", id);
    h.set("Rt-Origin", id.split(":")[0]!);
    h.set("Rt-Seq", id.split(":")[1]!);
  }
  const ack = await jsm.jetstream().publish(stream.storeSubject(`chat:${room}`), JSON.stringify({ data: { text } }), { headers: h });
  return { seq: ack.seq, duplicate: ack.duplicate };
}

describe("a recovery from the stream while the stream is ahead of this gateway", () => {
  test("the reply stops at the gateway's offset: what the topic sends after it is not in the reply too", async () => {
    const gw = await gateway(nats, "hub-ahead");
    try {
      const channel = "chat:ahead";
      gw.hub.join(channel, "json");
      const first = await store("ahead", "m0");
      // More than the ring holds, so the recovery from `first` reads the stream.
      let last = first.seq;
      for (let i = 1; i <= 200; i++) last = (await store("ahead", `m${i}`)).seq;
      await waitFor("the cursor at the top", async () => (await gw.hub.position(channel, undefined)).offset === last);
      // Five more are stored, but their republished copies reach this gateway late.
      gw.late.held = true;
      for (let i = 201; i <= 205; i++) await store("ahead", `m${i}`);
      const pos = await gw.hub.position(channel, { epoch: gw.epoch(), offset: first.seq });
      expect(pos.recovered).toBe(true);
      expect(pos.offset).toBe(last);
      const offsets = pos.publications.map((p) => p.offset!);
      expect(offsets.at(-1)).toBe(last); // not the five the topic brings next
      expect(offsets).toHaveLength(200);
      gw.late.letGo();
      await waitFor("the five through the topic", () => gw.frames.at(-1) === last + 5);
      expect(gw.frames.filter((o) => o > last)).toEqual([1, 2, 3, 4, 5].map((i) => last + i));
    } finally {
      await gw.close();
    }
  });
});

describe("a publication the stream stored twice (the same Nats-Msg-Id at two offsets)", () => {
  test("is written once to the topic, and a recovery, from the ring or from the stream, has it once", async () => {
    // The stream dedupes a repeat within its duplicate window; nats-server 2.9 did not always (a
    // resend through a leader change). A window of 100 ms lets this test store a repeat by hand.
    const gw = await gateway(nats, "hub-twice");
    try {
      const info = await jsm.streams.info(ROOMS_STREAM);
      await jsm.streams.update(ROOMS_STREAM, { ...info.config, duplicate_window: nanos(100) });
      const channel = "chat:twice";
      gw.hub.join(channel, "json");
      const before = await store("twice", "before");
      await waitFor("placed", async () => (await gw.hub.position(channel, undefined)).offset === before.seq);
      const a = await store("twice", "a", "gw1:1");
      const b = await store("twice", "b", "gw1:2");
      let again = { seq: 0, duplicate: true };
      await waitFor("a stored again", async () => !(again = await store("twice", "a", "gw1:1")).duplicate, 10_000, 50);
      const c = await store("twice", "c", "gw1:3");
      await waitFor("c written", () => gw.frames.includes(c.seq));
      expect(gw.frames.filter((o) => o > before.seq)).toEqual([a.seq, b.seq, c.seq]);
      const fromRing = await gw.hub.position(channel, { epoch: gw.epoch(), offset: before.seq });
      expect(fromRing.publications.map((p) => p.offset)).toEqual([a.seq, b.seq, c.seq]);
      // A gateway that joins now has nothing in its ring: it reads the stream.
      const other = await gateway(nats, "hub-twice-2");
      try {
        other.hub.join(channel, "json");
        const fromStream = await other.hub.position(channel, { epoch: other.epoch(), offset: before.seq });
        expect(fromStream.publications.map((p) => p.offset)).toEqual([a.seq, b.seq, c.seq]);
        expect(again.seq).toBeGreaterThan(b.seq);
      } finally {
        await other.close();
      }
    } finally {
      await gw.close();
    }
  });
});

describe("this gateway's own publication whose republished copy was lost", () => {
  test("is confirmed by the gap read, never sent again (a repeat nats-server 2.9 may store twice)", async () => {
    const gw = await gateway(nats, "hub-lost-copy");
    try {
      // A repeat sent after 100 ms would be stored again: the count below shows any resend.
      const info = await jsm.streams.info(ROOMS_STREAM);
      await jsm.streams.update(ROOMS_STREAM, { ...info.config, duplicate_window: nanos(100) });
      const channel = "chat:lostcopy";
      gw.hub.join(channel, "json");
      const before = await store("lostcopy", "before");
      await waitFor("placed", async () => (await gw.hub.position(channel, undefined)).offset === before.seq);
      const publish = (text: string) => gw.hub.publish(channel, { text }, JSON.stringify({ data: { text } }), { user: "u" });
      // The first publish after a connect asks for an ack (see StreamPublisher); the next ones are confirmed by their copies.
      publish("first");
      await waitFor("first confirmed", () => gw.outbox.size === 0);
      gw.late.drop = (m) => new TextDecoder().decode(m.data).includes("lost-copy");
      publish("lost-copy");
      publish("next");
      await waitFor("all three written (the lost copy read back from the stream)", () => gw.frames.filter((o) => o > before.seq).length === 3, 10_000);
      await waitFor("the outbox empty", () => gw.outbox.size === 0, 10_000);
      const subject = stream.storeSubject(channel);
      const stored = (await jsm.streams.info(ROOMS_STREAM, { subjects_filter: subject })).state.subjects?.[subject];
      expect(stored).toBe(4);
    } finally {
      await gw.close();
    }
  }, 30_000);
});

describe("this gateway's own publication stored just before its link dropped", () => {
  test("is confirmed by the read after the reconnect, not sent again", async () => {
    await using link = await FaultProxy.start(nats.port);
    const gw = await gateway(nats, "hub-cut", link);
    try {
      const info = await jsm.streams.info(ROOMS_STREAM);
      await jsm.streams.update(ROOMS_STREAM, { ...info.config, duplicate_window: nanos(100) });
      const channel = "chat:cutcopy";
      gw.hub.join(channel, "json");
      const before = await store("cutcopy", "before");
      await waitFor("placed", async () => (await gw.hub.position(channel, undefined)).offset === before.seq);
      const publish = (text: string) => gw.hub.publish(channel, { text }, JSON.stringify({ data: { text } }), { user: "u" });
      publish("first");
      await waitFor("first confirmed", () => gw.outbox.size === 0);
      const subject = stream.storeSubject(channel);
      const count = async () => (await jsm.streams.info(ROOMS_STREAM, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
      // Stored, and its copy lost with the link.
      gw.late.drop = (m) => new TextDecoder().decode(m.data).includes("cut-copy");
      publish("cut-copy");
      await waitFor("cut-copy stored", async () => (await count()) === 3);
      link.cut();
      await waitFor("the link down", () => !gw.broker.connected());
      gw.late.drop = () => false;
      link.restore();
      await waitFor("cut-copy read back", () => gw.frames.filter((o) => o > before.seq).length === 2, 15_000);
      await waitFor("the outbox empty", () => gw.outbox.size === 0, 15_000);
      expect(await count()).toBe(3);
    } finally {
      await gw.close();
    }
  }, 40_000);
});

describe("a recovery whose offset the stream's leader does not hold, though it keeps older ones of the channel", () => {
  test("nothing newer either (a leader still catching up): a temporary error, the client asks again; a trimmed offset is recovered: false", async () => {
    const gw = await gateway(nats, "hub-missing");
    try {
      const channel = "chat:missing";
      gw.hub.join(channel, "json");
      const older = await store("missing", "older");
      const theirs = await store("missing", "the client's last");
      let last = theirs.seq;
      // More than the ring holds, so the recovery asks the stream.
      const newer: number[] = [];
      for (let i = 0; i < 200; i++) newer.push((last = (await store("missing", `m${i}`)).seq));
      await waitFor("the cursor at the top", async () => (await gw.hub.position(channel, undefined)).offset === last);
      // What a leader that has not caught up answers (a node loss, seen in the chaos run): neither the offset nor anything after it.
      for (const seq of [theirs.seq, ...newer]) await jsm.streams.deleteMessage(ROOMS_STREAM, seq);
      const asked = await gw.hub.position(channel, { epoch: gw.epoch(), offset: theirs.seq }).then((p) => p, (err: unknown) => err);
      expect(asked).toBeInstanceOf(Error);
      // Positive control: once older ones are gone too (trimmed), the same offset is recovered: false.
      await jsm.streams.deleteMessage(ROOMS_STREAM, older.seq);
      const trimmed = await gw.hub.position(channel, { epoch: gw.epoch(), offset: theirs.seq });
      expect(trimmed).toMatchObject({ recovered: false, offset: last });
    } finally {
      await gw.close();
    }
  });

  test("newer ones kept (a hole the stream moved past: a lost write, a removed publication): recovered, with everything after it", async () => {
    const gw = await gateway(nats, "hub-hole");
    try {
      const channel = "chat:hole";
      gw.hub.join(channel, "json");
      await store("hole", "older");
      const theirs = await store("hole", "the client's last");
      let last = theirs.seq;
      for (let i = 0; i < 200; i++) last = (await store("hole", `m${i}`)).seq;
      await waitFor("the cursor at the top", async () => (await gw.hub.position(channel, undefined)).offset === last);
      // Before: a temporary error on every try, so an SDK whose offset nats-server lost never came back (chaos seed 11, chat:bulk-u1: 100 x26).
      await jsm.streams.deleteMessage(ROOMS_STREAM, theirs.seq);
      const pos = await gw.hub.position(channel, { epoch: gw.epoch(), offset: theirs.seq });
      expect(pos).toMatchObject({ recovered: true, offset: last });
      expect(pos.publications).toHaveLength(200);
    } finally {
      await gw.close();
    }
  });
});
