import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestNats } from "@rt/testkit";
import { startGateways, type Target } from "../lib/targets.ts";
import { ENV, Publisher, StreamClients } from "../scenarios/transports.ts";

let nats: TestNats;
let gateway: Target;

beforeAll(async () => {
  nats = await TestNats.start();
  gateway = await startGateways(1, nats.url, ENV, "gateway-protocol");
});

afterAll(async () => {
  await gateway?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

/** Polls the clients until they counted at least `n` deliveries. */
async function until(clients: StreamClients, n: number): Promise<number> {
  for (;;) {
    const s = await clients.stats();
    if (s.deliveries >= n) return s.deliveries;
    await Bun.sleep(10);
  }
}

describe("the transports scenario's raw clients", () => {
  for (const transport of ["ws", "http_stream", "sse"] as const) {
    test(`${transport}: every publication counts once on every subscriber`, async () => {
      const channel = `chat:streams-test-${transport}`;
      const base = `http://127.0.0.1:${gateway.ports[0]}`;
      await using clients = StreamClients.start();
      const opened = await clients.ask<{ opened: number; failed: number; errors: string[] }>({ op: "open", transport, base, channels: [channel, channel, channel] });
      expect(opened).toEqual({ op: "opened", opened: 3, failed: 0, errors: [] } as never);
      const publisher = await Publisher.open(gateway.ports[0]!, channel);
      try {
        // A burst of a window's publications: a WebSocket frame carries several, a stream chunk several; the data holds an escaped newline.
        const sent = await publisher.pump(`{"publish":{"channel":"${channel}","data":{"x":"a\\nb"}}}`, 30);
        expect(sent).toBeGreaterThan(0);
        const counted = await until(clients, sent * 3);
        // A miscounting client (an SSE event's two newlines as two deliveries) counts more: this fails (checked).
        expect(counted).toBe(sent * 3);
        expect((await clients.stats()).open).toBe(3);
      } finally {
        publisher.close();
      }
    });
  }

  test("uni_sse: a connection opens on its connect push", async () => {
    await using clients = StreamClients.start();
    const opened = await clients.ask<{ opened: number }>({ op: "open", transport: "uni_sse", base: `http://127.0.0.1:${gateway.ports[0]}`, channels: ["chat:unused", "chat:unused"] });
    expect(opened.opened).toBe(2);
  });
});
