// DeltaChannels, as the hubs use it: a channel's delta subscribers, many of each encoding, cost one
// Fossil delta per publication (counted on the encoder itself) and one topic publish per topic and
// turn, never a delta or a frame per subscriber. Topics are a map of sets that delivers as Bun's
// `server.publish` does; what each subscriber reads goes through the SDK's own delta handling.
import { afterEach, describe, expect, spyOn, test } from "bun:test";
import protobuf from "protobufjs";
import { centrifugo } from "@rt/protocol";
import { Prng } from "@rt/testkit";
import { DeltaChannels } from "../../src/channels/delta/delta-channels.ts";
import * as fossil from "../../src/channels/delta/fossil.ts";
import type { Sink } from "../../src/channels/sink.ts";
import { protobufPushes } from "../../src/protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes, type PushEncoding } from "../../src/protocols/centrifugo/push.ts";
import { SdkDeltaReader } from "./sdk-delta.ts";

const Reply = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root.lookupType("rt.centrifugo.Reply");
const nextTurn = () => new Promise((r) => setImmediate(r));
const seed = Prng.seedFromEnv();
const rng = new Prng(seed);
type Frame = string | Uint8Array;

class Topics {
  readonly members = new Map<string, Set<Socket>>();
  writes = 0;
  readonly publish = (topic: string, frame: Frame): void => {
    this.writes++;
    for (const s of this.members.get(topic) ?? []) s.frames.push(frame);
  };
}

class Socket implements Sink {
  readonly frames: Frame[] = [];
  readonly reader: SdkDeltaReader;
  constructor(
    private readonly topics: Topics,
    readonly enc: PushEncoding,
  ) {
    this.reader = new SdkDeltaReader(enc.name);
  }
  send(data: Frame): number {
    this.frames.push(data);
    return data.length;
  }
  subscribe(topic: string): void {
    let set = this.topics.members.get(topic);
    if (!set) this.topics.members.set(topic, (set = new Set()));
    set.add(this);
  }
  unsubscribe(topic: string): void {
    this.topics.members.get(topic)?.delete(this);
  }
  getBufferedAmount(): number {
    return 0;
  }
  /** Every value the app got, as the SDK reads the frames. */
  values(): unknown[] {
    const out: unknown[] = [];
    for (const frame of this.frames) {
      const pubs: Array<{ data: unknown; delta?: boolean }> = [];
      if (typeof frame === "string") for (const line of frame.split("\n")) pubs.push((JSON.parse(line) as { push: { pub: { data: unknown } } }).push.pub);
      else {
        const r = protobuf.Reader.create(frame);
        while (r.pos < r.len) pubs.push((Reply.toObject(Reply.decodeDelimited(r), { longs: Number, defaults: false }) as { push: { pub: { data: unknown } } }).push.pub);
      }
      for (const p of pubs) {
        const v = this.reader.read(p);
        out.push(v instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(v)) : v);
      }
    }
    return out;
  }
}

function versions(n: number): unknown[] {
  let doc = { rev: 0, rows: Array.from({ length: 30 }, (_, id) => ({ id, name: rng.pick(["Ана", "東京", "Zoë", "🚀"]) + id, score: rng.int(0, 1000) })) };
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    doc = structuredClone(doc);
    doc.rev = i;
    rng.pick(doc.rows).score = rng.int(0, 1000);
    out.push(doc);
  }
  return out;
}

afterEach(() => {
  (fossil.fossilDelta as unknown as { mockRestore?: () => void }).mockRestore?.();
});

describe(`DeltaChannels (seed ${seed})`, () => {
  test("one delta per publication and channel, whatever the subscribers and encodings; one topic publish per topic and turn", async () => {
    const topics = new Topics();
    const deltas = new DeltaChannels(topics.publish);
    const encoder = spyOn(fossil, "fossilDelta");
    const subs = Array.from({ length: 300 }, (_, i) => new Socket(topics, i % 2 === 0 ? jsonPushes : protobufPushes));
    for (const s of subs) deltas.join("doc:a", s, s.enc, undefined);
    expect(deltas.count("doc:a", "json")).toBe(150);
    expect(deltas.count("doc:a", "protobuf")).toBe(150);
    const docs = versions(25);
    let turns = 0;
    for (let i = 0; i < docs.length; i++) {
      deltas.publish("doc:a", docs[i], { offset: i + 1 }, true);
      if (i % 5 !== 1) {
        await nextTurn(); // some turns carry two publications
        turns++;
      }
    }
    await nextTurn();
    // The first went whole (nobody held a base); each next one was diffed once, for all 300 and both encodings.
    expect(encoder).toHaveBeenCalledTimes(docs.length - 1);
    // Per turn at most two topics per encoding (whole and delta); here each turn's subscribers were all on one.
    expect(topics.writes).toBeLessThanOrEqual(2 * (turns + 1));
    for (const s of subs) expect(s.values()).toEqual(docs);
  });

  test("channels apart: each its own base and delta; a channel nobody reads as deltas costs nothing, and its state goes with its last subscriber", async () => {
    const topics = new Topics();
    const deltas = new DeltaChannels(topics.publish);
    const encoder = spyOn(fossil, "fossilDelta");
    const a = new Socket(topics, jsonPushes);
    const b = new Socket(topics, protobufPushes);
    deltas.join("doc:a", a, jsonPushes, undefined);
    deltas.join("doc:b", b, protobufPushes, undefined);
    const docs = versions(4);
    for (const d of docs) {
      deltas.publish("doc:a", d, {}, true);
      deltas.publish("doc:b", d, {}, true);
      deltas.publish("doc:none", d, {}, true); // no delta subscriber: nothing done
      await nextTurn();
    }
    expect(deltas.has("doc:none")).toBe(false);
    expect(encoder).toHaveBeenCalledTimes(2 * (docs.length - 1));
    expect(a.values()).toEqual(docs);
    expect(b.values()).toEqual(docs);
    deltas.leave("doc:a", a, jsonPushes);
    expect(deltas.has("doc:a")).toBe(false);
    expect(deltas.has("doc:b")).toBe(true);
    expect(deltas.count("doc:a", "json")).toBe(0);
  });
});
