// The API's publisher into a stream, against a real nats-server: acks with the stream's seq, Nats-Msg-Id dedup, and no stream.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { TestNats, NATS_ADMIN } from "@rt/testkit";
import { AckedPublisher, PublishFailedError } from "../src/api/acked-publish.ts";

let nats: TestNats;
let nc: NatsConnection;
let pub: AckedPublisher;
beforeAll(async () => {
  nats = await TestNats.start();
  nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  await (await jetstreamManager(nc)).streams.add({ name: "ACKS", subjects: ["acks.>"] });
  pub = new AckedPublisher(nc);
});
afterAll(async () => {
  pub?.stop();
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

test("each call gets its own ack with the stream's seq, many at once (one turn, one write), in order", async () => {
  const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => pub.publish(`acks.${i % 7}`, JSON.stringify({ i }))));
  expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  expect(acks.every((a) => !a.duplicate)).toBe(true);
  const m = await (await jetstreamManager(nc)).streams.getMessage("ACKS", { seq: 42 });
  expect(m!.json()).toEqual({ i: 41 });
});

test("a Nats-Msg-Id repeat stores nothing and is acked with the first seq, marked duplicate", async () => {
  const first = await pub.publish("acks.dedup", "one", "id-1");
  const again = await pub.publish("acks.dedup", "one again", "id-1");
  expect(again).toEqual({ seq: first.seq, duplicate: true });
  expect((await pub.publish("acks.dedup", "two", "id-2")).seq).toBe(first.seq + 1);
});

test("a subject no stream stores: PublishFailedError no-stream, at once", async () => {
  const err = await pub.publish("nobody.stores.this", "x").then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PublishFailedError);
  expect((err as PublishFailedError).reason).toBe("no-stream");
});
