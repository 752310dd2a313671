// DeltaFanout: a channel's delta subscribers on two topics per encoding, every frame read through
// the SDK's own delta handling. The topics here are a map of sets that delivers as Bun's
// `server.publish` does (synchronously, to the members at that moment); the real server and the
// real SDK are in delta-sdk.test.ts.
import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { centrifugo } from "@rt/protocol";
import { Prng } from "@rt/testkit";
import { DeltaFanout, deltaTopics } from "../../src/channels/delta/delta-fanout.ts";
import type { Sink } from "../../src/channels/sink.ts";
import { protobufPushes } from "../../src/protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes, type PushEncoding } from "../../src/protocols/centrifugo/push.ts";
import { SdkDeltaReader } from "./sdk-delta.ts";

const Reply = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root.lookupType("rt.centrifugo.Reply");
const nextTurn = () => new Promise((r) => setImmediate(r));
const seed = Prng.seedFromEnv();
const rng = new Prng(seed);
const CHANNEL = "scores:live";

type Frame = string | Uint8Array;

/** Bun's topics, as far as fan-out sees them. */
class Topics {
  readonly members = new Map<string, Set<FakeSocket>>();
  readonly writes: Array<{ topic: string; frame: Frame }> = [];
  readonly publish = (topic: string, frame: Frame): void => {
    this.writes.push({ topic, frame });
    for (const s of this.members.get(topic) ?? []) s.frames.push(frame);
  };
}

/** A subscriber's socket: its topics, and every frame it got. */
class FakeSocket implements Sink {
  readonly frames: Frame[] = [];
  readonly topics = new Set<string>();
  constructor(private readonly hub: Topics) {}
  send(data: Frame): number {
    this.frames.push(data);
    return data.length;
  }
  subscribe(topic: string): void {
    this.topics.add(topic);
    let set = this.hub.members.get(topic);
    if (!set) this.hub.members.set(topic, (set = new Set()));
    set.add(this);
  }
  unsubscribe(topic: string): void {
    this.topics.delete(topic);
    this.hub.members.get(topic)?.delete(this);
  }
  getBufferedAmount(): number {
    return 0;
  }
}

interface WirePub {
  data: unknown;
  delta?: boolean;
  offset?: number;
}

/** The publications in one frame, as the SDK decodes the frame (JSON lines, or length-delimited Replies). */
function pubsOf(frame: Frame): WirePub[] {
  if (typeof frame === "string") return frame.split("\n").map((line) => (JSON.parse(line) as { push: { pub: WirePub } }).push.pub);
  const r = protobuf.Reader.create(frame);
  const out: WirePub[] = [];
  while (r.pos < r.len) out.push((Reply.toObject(Reply.decodeDelimited(r), { longs: Number, defaults: false }) as { push: { pub: WirePub } }).push.pub);
  return out;
}

/** A subscriber as the SDK is: its socket, and what the app got from each publication. */
class Subscriber {
  readonly socket: FakeSocket;
  readonly reader: SdkDeltaReader;
  readonly values: unknown[] = [];
  readonly wire: WirePub[] = [];
  private read = 0;
  constructor(
    hub: Topics,
    readonly enc: PushEncoding,
  ) {
    this.socket = new FakeSocket(hub);
    this.reader = new SdkDeltaReader(enc.name);
  }
  /** Reads the frames that arrived since the last call, as the SDK would. */
  take(): unknown[] {
    for (; this.read < this.socket.frames.length; this.read++) {
      for (const p of pubsOf(this.socket.frames[this.read]!)) {
        this.wire.push(p);
        const v = this.reader.read(p);
        this.values.push(v instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(v)) : v);
      }
    }
    return this.values;
  }
}

/** A document and its next versions, each a little changed. */
function versions(n: number, r: Prng = rng): Array<Record<string, unknown>> {
  let doc: { rev: number; rows: Array<{ id: number; name: string; score: number }> } = {
    rev: 0,
    rows: Array.from({ length: 30 }, (_, id) => ({ id, name: r.pick(["Ана", "Bo", "東京", "Zoë", "🚀 team"]) + id, score: r.int(0, 1000) })),
  };
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < n; i++) {
    doc = structuredClone(doc);
    doc.rev = i;
    r.pick(doc.rows).score = r.int(0, 1000);
    if (r.chance(0.3)) r.pick(doc.rows).name = r.pick(["Ана", "Bo", "東京", "Zoë", "🚀 team"]) + r.int(0, 99);
    out.push(doc);
  }
  return out;
}

const publish = (f: DeltaFanout, doc: unknown, offset: number, asDelta = true) => f.publish(JSON.stringify(doc), { offset, info: { user: "u", client: "c" } }, asDelta);

describe(`DeltaFanout (seed ${seed}: FUZZ_SEED=${seed} repeats it)`, () => {
  test("subscribers joining at different times: the first publication whole, then deltas; each reads every value through the SDK, JSON and Protobuf", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const docs = versions(60);
    const subs: Array<{ sub: Subscriber; from: number }> = [];
    for (let i = 0; i < docs.length; i++) {
      if (i % 7 === 0) {
        for (const enc of [jsonPushes, protobufPushes]) {
          const sub = new Subscriber(hub, enc);
          f.join(sub.socket, enc);
          subs.push({ sub, from: i });
        }
      }
      publish(f, docs[i], i + 1);
      if (rng.chance(0.5) || i % 4 === 3) await nextTurn(); // sometimes several publications in one turn, never more than 4
    }
    await nextTurn();
    for (const { sub, from } of subs) {
      expect(sub.take()).toEqual(docs.slice(from));
      // Whole until its first turn was written (the publications of that turn all went whole), deltas from then on.
      const firstDelta = sub.wire.findIndex((p) => p.delta);
      expect(sub.wire[0]!.delta).toBeFalsy();
      if (sub.wire.length > 4) expect(firstDelta).toBeGreaterThan(0);
      if (firstDelta > 0) expect(sub.wire.slice(firstDelta).every((p) => p.delta)).toBe(true);
      expect(sub.wire.map((p) => p.offset)).toEqual(docs.slice(from).map((_, k) => from + k + 1));
      // JSON: data is a string, whole or delta; Protobuf: bytes.
      expect(sub.wire.every((p) => (sub.enc.name === "json" ? typeof p.data === "string" : p.data instanceof Uint8Array))).toBe(true);
    }
    expect(f.size).toBe(subs.length);
  });

  test("one topic publish per topic and turn, whatever the number of subscribers; a first turn's burst goes whole only first; the whole topic empties into the delta topic once", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const topics = deltaTopics(jsonPushes, CHANNEL);
    const subs = Array.from({ length: 500 }, () => new Subscriber(hub, jsonPushes));
    for (const s of subs) f.join(s.socket, jsonPushes);
    const docs = versions(6);
    publish(f, docs[0], 1);
    publish(f, docs[1], 2);
    await nextTurn();
    expect(hub.writes.map((w) => w.topic)).toEqual([topics.whole]); // nobody held a base: the turn's frames all on the whole topic
    expect(hub.members.get(topics.whole)?.size ?? 0).toBe(0);
    expect(hub.members.get(topics.delta)?.size).toBe(500);
    hub.writes.length = 0;
    for (let i = 2; i < 6; i++) publish(f, docs[i], i + 1);
    await nextTurn();
    expect(hub.writes.map((w) => w.topic)).toEqual([topics.delta]);
    for (const s of subs) expect(s.take()).toEqual(docs);
    // The first whole; the second, in the same turn, a delta against it on the whole topic (a burst is not sent whole).
    expect(subs[0]!.wire.map((p) => !!p.delta)).toEqual([false, true, true, true, true, true]);
  });

  test("one delta per publication for every encoding: the JSON string and the Protobuf bytes are the same delta", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const j = new Subscriber(hub, jsonPushes);
    const p = new Subscriber(hub, protobufPushes);
    f.join(j.socket, jsonPushes);
    f.join(p.socket, protobufPushes);
    const docs = versions(3);
    for (let i = 0; i < 3; i++) {
      publish(f, docs[i], i + 1);
      await nextTurn();
    }
    j.take();
    p.take();
    for (const k of [1, 2]) expect([...new TextEncoder().encode(j.wire[k]!.data as string)]).toEqual([...(p.wire[k]!.data as Uint8Array)]);
  });

  test("a publication not sent as a delta (no `delta`, no delta_publish) goes whole on the delta topic and is the next one's base", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const s = new Subscriber(hub, jsonPushes);
    f.join(s.socket, jsonPushes);
    const docs = versions(4);
    publish(f, docs[0], 1);
    await nextTurn();
    publish(f, docs[1], 2, false);
    publish(f, docs[2], 3);
    publish(f, docs[3], 4, false);
    await nextTurn();
    expect(s.take()).toEqual(docs);
    expect(s.wire.map((p) => !!p.delta)).toEqual([false, false, true, false]);
  });

  test("data over the size cap goes whole and is no base: the next one goes whole too, then deltas again", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish, { maxBaseBytes: 2000, recentCount: 16, recentBytes: 64 * 1024 });
    const s = new Subscriber(hub, protobufPushes);
    f.join(s.socket, protobufPushes);
    const small = versions(5);
    const big = { ...small[1], padding: "é".repeat(1000) }; // 2000 bytes of padding alone
    const docs = [small[0], small[1], big, small[2], small[3], small[4]];
    for (let i = 0; i < docs.length; i++) {
      publish(f, docs[i], i + 1);
      await nextTurn();
    }
    expect(s.take()).toEqual(docs);
    expect(s.wire.map((p) => !!p.delta)).toEqual([false, true, false, false, true, true]);
  });

  test("a subscriber that joins while frames are held does not get them: its subscribe reply covered them", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const early = new Subscriber(hub, jsonPushes);
    f.join(early.socket, jsonPushes);
    const docs = versions(3);
    publish(f, docs[0], 1);
    const late = new Subscriber(hub, jsonPushes);
    f.join(late.socket, jsonPushes); // writes the held frame first
    publish(f, docs[1], 2);
    publish(f, docs[2], 3);
    await nextTurn();
    expect(early.take()).toEqual(docs);
    expect(late.take()).toEqual(docs.slice(1));
    expect(late.wire[0]!.delta).toBeFalsy();
  });

  test("recovered publications: the first whole, the next from the deltas kept when they were fanned out; the subscriber then joins holding the last and reads deltas", async () => {
    for (const enc of [jsonPushes, protobufPushes]) {
      const hub = new Topics();
      const f = new DeltaFanout(CHANNEL, hub.publish);
      const online = new Subscriber(hub, enc); // keeps deltas computed while the other one is away
      f.join(online.socket, enc);
      const docs = versions(8);
      for (let i = 0; i < 6; i++) {
        publish(f, docs[i], 10 * (i + 1)); // offsets with gaps, as a shared stream's are
        await nextTurn();
      }
      // A subscriber that saw up to offset 20 recovers 30..60.
      const missed = docs.slice(2, 6).map((data, k) => ({ data, offset: 10 * (k + 3), info: { user: "u", client: "c" } }));
      const back = f.recovered(missed, enc.name);
      expect(back.publications.map((p) => !!p.delta)).toEqual([false, true, true, true]);
      expect(back.publications.map((p) => p.offset)).toEqual([30, 40, 50, 60]);
      expect(back.holds).toBe(JSON.stringify(docs[5]));
      const sub = new Subscriber(hub, enc);
      // The subscribe reply, through the encoding's codec: recovered publications keep their form.
      for (const p of back.publications) sub.socket.frames.push(enc.frame(CHANNEL, { pub: p }));
      f.join(sub.socket, enc, back.holds);
      expect(sub.socket.topics).toEqual(new Set([deltaTopics(enc, CHANNEL).delta]));
      publish(f, docs[6], 70);
      publish(f, docs[7], 80);
      await nextTurn();
      expect(sub.take()).toEqual(docs.slice(2));
      expect(sub.wire.map((p) => !!p.delta)).toEqual([false, true, true, true, true, true]);
    }
  });

  test("a recovery that is not at the channel's last publication, or carried none, joins the whole topic", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const docs = versions(4);
    for (let i = 0; i < 3; i++) publish(f, docs[i], i + 1);
    const none = f.recovered([], "json");
    expect(none).toEqual({ publications: [], holds: undefined });
    // Publications kept while nobody held a base here: no delta was computed, so they go whole.
    const stale = f.recovered([{ data: docs[0], offset: 1 }, { data: docs[1], offset: 2 }], "json");
    expect(stale.publications.map((p) => p.delta)).toEqual([undefined, undefined]);
    expect(stale.publications.map((p) => p.data)).toEqual([JSON.stringify(docs[0]), JSON.stringify(docs[1])]);
    const a = new Subscriber(hub, jsonPushes);
    const b = new Subscriber(hub, jsonPushes);
    f.join(a.socket, jsonPushes, none.holds);
    f.join(b.socket, jsonPushes, stale.holds); // holds offset 2; the channel is at 3
    expect(a.socket.topics).toEqual(new Set([deltaTopics(jsonPushes, CHANNEL).whole]));
    expect(b.socket.topics).toEqual(new Set([deltaTopics(jsonPushes, CHANNEL).whole]));
    publish(f, docs[3], 4);
    await nextTurn();
    expect(a.take()).toEqual([docs[3]]);
    expect(a.wire[0]!.delta).toBeFalsy();
  });

  test("forget(): the next publication goes whole to every subscriber; deltas kept for recoveries are gone", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const s = new Subscriber(hub, jsonPushes);
    f.join(s.socket, jsonPushes);
    const docs = versions(4);
    for (let i = 0; i < 2; i++) {
      publish(f, docs[i], i + 1);
      await nextTurn();
    }
    f.forget();
    expect(f.recovered([{ data: docs[0], offset: 1 }, { data: docs[1], offset: 2 }], "json").publications[1]!.delta).toBeUndefined();
    publish(f, docs[2], 1); // the stream started over
    publish(f, docs[3], 2);
    await nextTurn();
    expect(s.take()).toEqual(docs);
    expect(s.wire.map((p) => !!p.delta)).toEqual([false, true, false, true]);
  });

  test("leave(): off its topic, nothing more; the others go on", async () => {
    const hub = new Topics();
    const f = new DeltaFanout(CHANNEL, hub.publish);
    const stay = new Subscriber(hub, jsonPushes);
    const fresh = new Subscriber(hub, jsonPushes);
    const settled = new Subscriber(hub, jsonPushes);
    f.join(stay.socket, jsonPushes);
    f.join(settled.socket, jsonPushes);
    const docs = versions(3);
    publish(f, docs[0], 1);
    await nextTurn();
    f.join(fresh.socket, jsonPushes);
    f.leave(fresh.socket, jsonPushes);
    f.leave(settled.socket, jsonPushes);
    f.leave(settled.socket, jsonPushes); // twice: nothing more
    expect(fresh.socket.topics.size + settled.socket.topics.size).toBe(0);
    publish(f, docs[1], 2);
    publish(f, docs[2], 3);
    await nextTurn();
    expect(stay.take()).toEqual(docs);
    expect(settled.take()).toEqual([docs[0]]);
    expect(fresh.take()).toEqual([]);
    expect(f.size).toBe(1);
  });
});
