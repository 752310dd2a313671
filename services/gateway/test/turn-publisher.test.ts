// TurnPublisher against a real nats-server: a turn's publishes reach the client at the turn's end, all of them, in order.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createLogger } from "@rt/runtime";
import { NATS_ADMIN, TestNats, waitFor } from "@rt/testkit";
import type { Broker } from "../src/broker/broker.ts";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import { TurnPublisher } from "../src/broker/turn-publisher.ts";

let nats: TestNats;
let nc: NatsConnection;
const broker = new NatsBroker(createLogger("test", "silent"));
beforeAll(async () => {
  nats = await TestNats.start();
  nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  await broker.connect({ ...NATS_ADMIN, servers: [nats.url], name: "turn-publisher-test" });
  await waitFor("broker up", () => broker.connected());
});
afterAll(async () => {
  await broker.close();
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

/** The real broker, with the times it was asked to publish counted. */
function counting(b: Broker): { broker: Broker; calls: () => number } {
  let n = 0;
  const wrapped = Object.create(b) as Broker;
  wrapped.publish = (...args: Parameters<Broker["publish"]>) => (n++, b.publish(...args));
  wrapped.connected = () => b.connected();
  return { broker: wrapped, calls: () => n };
}

describe("TurnPublisher", () => {
  test("a turn's publishes go to NATS together when the turn ends, every one, in order", async () => {
    const got: string[] = [];
    const sub = nc.subscribe("turn.a", { callback: (_e, m) => void got.push(m.string()) });
    await nc.flush();
    const c = counting(broker);
    const out = new TurnPublisher(c.broker);
    for (let i = 0; i < 500; i++) expect(out.publish("turn.a", `m${i}`)).toBe(true);
    expect(c.calls()).toBe(0); // nothing handed to the client within the turn
    await new Promise((r) => setImmediate(r));
    expect(c.calls()).toBe(500);
    await waitFor("500 delivered", () => got.length === 500);
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => `m${i}`));
    sub.unsubscribe();
  });

  test("publishes the link dropped before the turn ended are counted, not silently gone", async () => {
    let up = true;
    const flaky = Object.create(broker) as Broker;
    flaky.connected = () => up;
    flaky.publish = (...args: Parameters<Broker["publish"]>) => up && broker.publish(...args);
    const counted: number[] = [];
    const out = new TurnPublisher(flaky, (n) => counted.push(n));
    expect(out.publish("turn.c", "1")).toBe(true);
    expect(out.publish("turn.c", "2")).toBe(true);
    up = false; // the link drops within the turn
    await new Promise((r) => setImmediate(r));
    expect(counted).toEqual([2]);
  });

  test("refuses (false, nothing queued) while the link is down", async () => {
    const down = new NatsBroker(createLogger("test", "silent")); // never connected
    const out = new TurnPublisher(down);
    expect(out.publish("turn.b", "x")).toBe(false);
    out.flush();
  });
});
