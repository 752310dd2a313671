// Channels without history (LiveHub, core NATS) in one process on the memory broker: two gateways,
// real WebSocket subscribers. A publication reaches every subscriber once (the publisher's own
// gateway at once, not again from NATS: its connection asks for no echo), in order; while the
// publisher's link is down a publish is refused, never queued.
import { describe, expect, test } from "bun:test";
import { roomPayload } from "@rt/protocol";
import { Metrics, createLogger } from "@rt/runtime";
import { waitFor } from "@rt/testkit";
import { MemoryBroker } from "../src/broker/broker-memory.ts";
import { MemoryNats } from "../src/broker/memory-nats.ts";
import { LiveHub } from "../src/channels/live-hub.ts";
import { jsonPushes } from "../src/protocols/centrifugo/push.ts";
import { Rejections } from "../src/rejections.ts";
import { TopicClient, topicServer } from "./fixtures/memory-hubs.ts";

const log = createLogger("test", "silent");
const CH = "ev:t";

async function liveGateway(nats: MemoryNats) {
  const broker = new MemoryBroker(nats, log, { noEcho: true });
  const server = topicServer();
  const hub = new LiveHub(() => server, broker, [jsonPushes], 64 * 1024, new Rejections(new Metrics()), log, () => undefined);
  await broker.connect();
  hub.join(CH, "json");
  await broker.flush();
  const client = await TopicClient.open(server.port!, jsonPushes.topic(CH));
  const publish = (data: unknown) => hub.publish(CH, data, roomPayload(JSON.stringify(data)));
  return { broker, hub, client, publish, stop: async () => (await broker.close(), await server.stop(true)) };
}

describe("channels without history on the memory broker", () => {
  test("every subscriber on both gateways gets each publication once, in order, without offsets; a publish while the link is down is refused", async () => {
    const nats = new MemoryNats();
    const a = await liveGateway(nats);
    const b = await liveGateway(nats);
    try {
      for (let i = 0; i < 10; i++) expect(a.publish({ i })).toBeUndefined();
      await waitFor("10 each", () => a.client.raw.length >= 10 && b.client.raw.length >= 10);
      expect(b.publish({ marker: true })).toBeUndefined();
      await waitFor("the marker", () => a.client.raw.length === 11 && b.client.raw.length === 11);
      const expected = [...Array.from({ length: 10 }, (_, i) => ({ i })), { marker: true }];
      for (const c of [a.client, b.client]) {
        expect(c.raw.map((p) => (p.pub as { data: unknown }).data)).toEqual(expected);
        expect(c.raw.every((p) => (p.pub as { offset?: number }).offset === undefined)).toBe(true);
      }
      a.broker.drop();
      expect(a.publish({ lost: true })).toBe("unavailable");
      a.broker.restore();
      expect(a.publish({ after: true })).toBeUndefined();
      await waitFor("after", () => b.client.raw.length === 12);
      expect((b.client.raw.at(-1)!.pub as { data: unknown }).data).toEqual({ after: true });
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
