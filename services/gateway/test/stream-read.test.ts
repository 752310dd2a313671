// streamRead against a real nats-server: single gets first, then an ephemeral consumer; in order, nothing missed, consumers cleaned up.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createLogger } from "@rt/runtime";
import { TestNats, waitFor, NATS_ADMIN } from "@rt/testkit";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import { StreamMissingError } from "../src/channels/stream-get.ts";
import { GETS_FIRST, streamRead } from "../src/channels/stream-read.ts";

let nats: TestNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
const broker = new NatsBroker(createLogger("test", "silent"));
beforeAll(async () => {
  nats = await TestNats.start();
  nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "READ", subjects: ["read.>"] });
  const js = jetstream(nc);
  // 1,000 for `a` and 1,000 for `b`, interleaved: a's seqs are every other one.
  for (let i = 0; i < 1000; i++) {
    await js.publish("read.a", JSON.stringify({ n: i }), { headers: undefined });
    await js.publish("read.b", JSON.stringify({ n: i }));
  }
  await broker.connect({ ...NATS_ADMIN, servers: [nats.url], name: "stream-read-test" });
  await waitFor("broker up", () => broker.connected() && broker.jetstream() !== undefined);
});
afterAll(async () => {
  await broker.close();
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

const consumers = async () => (await jsm.consumers.list("READ").next()).length;

describe("streamRead", () => {
  test("reads every message of one subject from a seq on, in order, fast: 1,000 through the consumer after the first single gets", async () => {
    const t0 = performance.now();
    const seen: number[] = [];
    for await (const m of streamRead(broker, "READ", "read.a", 1)) seen.push(JSON.parse(new TextDecoder().decode(m.data)).n);
    const ms = performance.now() - t0;
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(ms).toBeLessThan(1000); // one round trip each took about 130 ms for 1,000 here; the bench measures it properly
    await waitFor("the consumer deleted", async () => (await consumers()) === 0);
  });

  test("from the middle, and a short read uses single gets only (no consumer made)", async () => {
    const seqs: number[] = [];
    for await (const m of streamRead(broker, "READ", "read.a", 1995)) seqs.push(m.seq);
    expect(seqs).toEqual([1995, 1997, 1999]);
    expect(seqs.length).toBeLessThanOrEqual(GETS_FIRST);
    const none: number[] = [];
    for await (const m of streamRead(broker, "READ", "read.a", 5000)) none.push(m.seq);
    expect(none).toEqual([]);
  });

  test("stopping early deletes the consumer at once", async () => {
    let n = 0;
    for await (const m of streamRead(broker, "READ", "read.b", 1)) {
      expect(m.subject).toBe("read.b");
      if (++n === 300) break;
    }
    await waitFor("the consumer deleted", async () => (await consumers()) === 0, 2000);
  });

  test("timestamps and headers come through both paths; a missing stream is a StreamMissingError", async () => {
    const now = Date.now();
    const all = [];
    for await (const m of streamRead(broker, "READ", "read.a", 1)) all.push(m);
    for (const m of [all[0]!, all[999]!]) {
      expect(Math.abs(m.at - now)).toBeLessThan(60_000);
      expect(m.header("Nats-Msg-Id")).toBe("");
    }
    const missing = async () => {
      for await (const _ of streamRead(broker, "NOPE", "nope.x", 1)) void _;
    };
    expect(missing()).rejects.toBeInstanceOf(StreamMissingError);
  });
});
