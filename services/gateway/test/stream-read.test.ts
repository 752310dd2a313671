// streamRead (NatsStreams.read) against a real nats-server: single gets first, then an ephemeral consumer; in order, nothing missed, consumers cleaned up.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { INBOX_PREFIX, ROOMS_STREAM } from "@rt/protocol";
import { createLogger } from "@rt/runtime";
import { FaultProxy, TestNats, natsAs, waitFor, NATS_ADMIN } from "@rt/testkit";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import { StreamMissingError } from "../src/channels/stream-get.ts";
import { GETS_FIRST } from "../src/broker/nats-streams.ts";
import { streamRead } from "../src/channels/stream-read.ts";

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
  await waitFor("broker up", () => broker.connected() && broker.streams() !== undefined);
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

describe("streamRead across a NATS reconnect (the gateway's own NATS permissions)", () => {
  // Found by the chaos run: a gateway whose link dropped while a room's replay was fetching from its
  // consumer never finished that replay. The client library, on the reconnect, asked for the
  // consumer's info in a loop (a request the gateway's user may not make: denied, every 3 s,
  // forever); the room stayed behind on that gateway, and every client recovering there timed out.
  test("a link that drops and comes back in the middle of a fetch: the read ends (done or an error to read again from), never hangs, never skips", async () => {
    await using server = await TestNats.start();
    await using link = await FaultProxy.start(server.port);
    const admin = await connect({ ...NATS_ADMIN, servers: server.url });
    const adminJsm = await jetstreamManager(admin);
    await adminJsm.streams.add({ name: ROOMS_STREAM, subjects: ["chat.room.*"] });
    const js = jetstream(admin);
    const seqs: number[] = [];
    for (let i = 0; i < 600; i++) seqs.push((await js.publish("chat.room.lag", JSON.stringify({ n: i, pad: "x".repeat(200) }))).seq);
    const gw = new NatsBroker(createLogger("test", "silent"), INBOX_PREFIX.gateway);
    await gw.connect({ ...natsAs("gateway"), servers: [link.url], name: "stream-read-reconnect" });
    await waitFor("gateway broker up", () => gw.connected() && gw.streams() !== undefined);
    try {
      const read = streamRead(gw, ROOMS_STREAM, "chat.room.lag", 1);
      const got: number[] = [];
      // The single gets and the first fetch of 128.
      while (got.length < GETS_FIRST + 128) got.push((await read.next()).value!.seq);
      // The next fetch goes out, its answer held back by the link, which then drops and comes back.
      link.delay(1000, "toClient");
      link.mark();
      const pending = read.next();
      pending.catch(() => undefined); // it may fail before it is awaited below
      await waitFor("the next fetch on its way to the server", () => link.sentToUpstream.includes("CONSUMER.MSG.NEXT"), 5000);
      link.cut();
      await waitFor("the broker saw the drop", () => !gw.connected(), 5000);
      link.delay(0);
      link.restore();
      await waitFor("the broker is back", () => gw.connected(), 10_000);
      let ended: "done" | "error" = "done";
      const rest = (async () => {
        try {
          let r = await pending;
          while (!r.done) {
            got.push(r.value.seq);
            r = await read.next();
          }
        } catch {
          ended = "error";
        }
      })();
      const within = await Promise.race([rest.then(() => true), Bun.sleep(20_000).then(() => false)]);
      expect(within).toBe(true);
      // What it gave is the stream's order with nothing skipped: all of it, or a prefix when it ended with an error.
      expect(got).toEqual(seqs.slice(0, got.length));
      if (ended === "done") expect(got).toHaveLength(seqs.length);
    } finally {
      await gw.close();
      await admin.close();
    }
  });
});
