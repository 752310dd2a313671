// StreamPublisher against a real nats-server: what the stream could not take goes again before anything newer is stored.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createLogger } from "@rt/runtime";
import { NATS_ADMIN, TestNats, waitFor } from "@rt/testkit";
import { headerFields } from "../src/broker/header-fields.ts";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import { Outbox } from "../src/broker/outbox.ts";
import { ORIGIN_SEQ_HEADER, StreamPublisher } from "../src/broker/stream-publisher.ts";

let nats: TestNats;
let nc: NatsConnection;
let jsm: JetStreamManager;
const broker = new NatsBroker(createLogger("test", "silent"));
beforeAll(async () => {
  nats = await TestNats.start();
  nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  jsm = await jetstreamManager(nc);
  await broker.connect({ ...NATS_ADMIN, servers: [nats.url], name: "stream-publisher-test" });
  await waitFor("broker up", () => broker.connected());
});
afterAll(async () => {
  await broker.close();
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

/**
 * Found by the chaos run (`bun run chaos --seconds 600 --seed 11`): while the stream had no leader
 * (its node killed), a `/chat/` socket's texts were sent into nothing; the first sent once a new
 * leader was elected were stored, and the lost ones, sent again 3 s later, after them (866 out of
 * order). A stream that does not exist yet loses core publishes the same way.
 */
describe("publishes the stream could not take", () => {
  test("are stored before the newer ones sent after it can take them again: in order, once", async () => {
    const outbox = new Outbox({ maxBytes: 1 << 20, maxAgeMs: 60_000 }, () => undefined);
    // Hold 0: nothing newer goes while an older one is unconfirmed, so the test needs no clock.
    const publisher = new StreamPublisher(broker, outbox, { onRepeat: () => undefined, onError: () => undefined, onStored: () => undefined }, 0);
    publisher.start();
    // Its own republished copies confirm its publishes, as a StreamHub hands them over.
    broker.acquire("ordlive.>", (m) => publisher.confirmed(headerFields(m, [ORIGIN_SEQ_HEADER])?.[ORIGIN_SEQ_HEADER]));
    try {
      const config = { name: "ORD", subjects: ["ord.>"], republish: { src: "ord.>", dest: "ordlive.>" } };
      await jsm.streams.add(config);
      publisher.publish("ord.a", "0");
      await waitFor("0 stored", () => outbox.size === 0);
      // The stream goes (as a leaderless one refuses nothing it is not asked to ack): "1" is sent into nothing.
      await jsm.streams.delete("ORD");
      publisher.publish("ord.a", "1");
      await waitFor("1 sent", () => outbox.lastSent === 2);
      await broker.flush(); // NATS had it, and nothing stored it
      await jsm.streams.add(config);
      for (const p of ["2", "3", "4"]) publisher.publish("ord.a", p);
      await waitFor("all four confirmed", () => outbox.size === 0, 20_000);
      const stored: string[] = [];
      for (let seq = 1; seq <= 4; seq++) stored.push(new TextDecoder().decode((await jsm.streams.getMessage("ORD", { seq }))!.data));
      expect(stored).toEqual(["1", "2", "3", "4"]);
      expect((await jsm.streams.info("ORD")).state.messages).toBe(4);
    } finally {
      publisher.stop();
      broker.release("ordlive.>");
    }
  }, 30_000);
});
