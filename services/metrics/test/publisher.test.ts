import { expect, test } from "bun:test";
import { metricsSubject, type MetricsSample } from "@rt/protocol";
import { connectNats, createLogger } from "@rt/runtime";
import { TestNats, waitFor, natsAs } from "@rt/testkit";
import { NatsPublisher } from "../src/publisher.ts";
import { Subscriber } from "./nats-samples.ts";

const HOST = "host.with*odd>chars";
const log = createLogger("metrics-test", "silent");
const sample = (n: number): MetricsSample => ({ timestamp: new Date().toISOString(), cpu_load: n, memory_usage: 50, host: HOST });

/** Counts what the publisher reports, as the service's Prometheus counters would. */
function counts() {
  const c = { published: 0, failed: 0 };
  return { c, metrics: { published: () => void c.published++, publishFailed: () => void c.failed++ } };
}

test("publishes valid samples on the host's encoded subject and refuses invalid ones", async () => {
  await using nats = await TestNats.start();
  await using sub = await Subscriber.start(nats.url, "metrics.>");
  const conn = await connectNats({ ...natsAs("metrics"), servers: [nats.url], name: "metrics-test", logger: log });
  const { c, metrics } = counts();
  const publisher = new NatsPublisher(conn, HOST, log, metrics);
  try {
    expect(publisher.publish(sample(1))).toBe("published");
    expect(publisher.publish({ ...sample(2), memory_usage: 150 })).toBe("invalid");
    expect(publisher.publish({ ...sample(3), host: "" })).toBe("invalid");
    expect(publisher.publish({ ...sample(4), cpu_percent: 12.5 })).toBe("published");
    expect(c).toEqual({ published: 2, failed: 0 }); // invalid samples are not publish failures
    // A marker after them, on the same connection and subject: once it is in, anything the
    // invalid samples had let through would have arrived before it.
    expect(publisher.publish(sample(99))).toBe("published");
    await conn.nc.flush();
    await sub.waitForCount(3);
    expect(sub.received.map((r) => r.subject)).toEqual([metricsSubject(HOST), metricsSubject(HOST), metricsSubject(HOST)]);
    expect(sub.received.map((r) => (r.data as MetricsSample).cpu_load)).toEqual([1, 4, 99]);
    expect((sub.received[1]!.data as MetricsSample).cpu_percent).toBe(12.5);
  } finally {
    await publisher.close();
  }
  expect(conn.nc.isClosed()).toBe(true);
});

test("while NATS is down samples are dropped, not queued for a burst on reconnect", async () => {
  await using nats = await TestNats.start();
  await using sub = await Subscriber.start(nats.url, metricsSubject(HOST));
  const conn = await connectNats({ ...natsAs("metrics"), servers: [nats.url], name: "metrics-test", logger: log });
  const { c, metrics } = counts();
  const publisher = new NatsPublisher(conn, HOST, log, metrics);
  try {
    expect(publisher.publish(sample(1))).toBe("published");
    await sub.waitForCount(1);

    await nats.stop(true);
    await waitFor("publisher to see the outage", () => !conn.connected(), 5000, 10);
    for (let i = 0; i < 5; i++) expect(publisher.publish(sample(100 + i))).toBe("disconnected");

    await nats.restart();
    await waitFor("publisher to reconnect", () => conn.connected(), 5000, 10);
    await waitFor("subscriber to reconnect", async () => {
      await sub.nc.flush();
      return true;
    }, 5000, 50);
    expect(publisher.publish(sample(2))).toBe("published");
    expect(c).toEqual({ published: 2, failed: 5 }); // each sample dropped during the outage
    // A marker after it on the same connection: samples queued during the outage would have gone
    // out on the reconnect, before sample 2 and so before the marker.
    expect(publisher.publish(sample(3))).toBe("published");
    await conn.nc.flush();
    await sub.waitForCount(3);
    expect(sub.received.map((r) => (r.data as MetricsSample).cpu_load)).toEqual([1, 2, 3]);
  } finally {
    await publisher.close();
  }
});

test("close() returns promptly while NATS is down", async () => {
  await using nats = await TestNats.start();
  const conn = await connectNats({ ...natsAs("metrics"), servers: [nats.url], name: "metrics-test", logger: log });
  const { c, metrics } = counts();
  const publisher = new NatsPublisher(conn, HOST, log, metrics);
  await nats.stop(true);
  await waitFor("publisher to see the outage", () => !conn.connected(), 5000, 10);
  const t0 = performance.now();
  await publisher.close();
  expect(performance.now() - t0).toBeLessThan(500);
  expect(conn.nc.isClosed()).toBe(true);
  expect(publisher.publish(sample(1))).toBe("disconnected");
  expect(c).toEqual({ published: 0, failed: 0 }); // closed: not a failure
});
