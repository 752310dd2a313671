// GatewayRegistry against a real nats-server: a gateway silent for GATEWAY_GONE_AFTER is gone,
// not a moment earlier, whatever the timer values (the registry's clock is the test's).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { gatewayHeartbeatSubject } from "@rt/protocol";
import { createLogger } from "@rt/runtime";
import { TestNats, waitFor, NATS_ADMIN } from "@rt/testkit";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import { GatewayRegistry } from "../src/cluster/gateways.ts";
import { DEFAULTS } from "../src/config.ts";

let nats: TestNats;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await TestNats.start();
  nc = await connect({ ...NATS_ADMIN, servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.[Symbol.asyncDispose]();
});

/** A registry on its own broker whose clock is `clock.now` (its own heartbeats are an hour apart: they do not matter here). */
async function registry(id: string, goneAfterMs: number, clock: { now: number }): Promise<{ reg: GatewayRegistry; broker: NatsBroker; gone: string[]; changed: string[] }> {
  const broker = new NatsBroker(createLogger("test", "silent"));
  await broker.connect({ ...NATS_ADMIN, servers: [nats.url], name: id });
  await waitFor("broker up", () => broker.connected());
  const gone: string[] = [];
  const changed: string[] = [];
  const reg = new GatewayRegistry(id, broker, createLogger("test", "silent"), () => undefined, { heartbeatMs: 3_600_000, goneAfterMs }, () => clock.now);
  reg.onGone((g) => gone.push(g));
  reg.onChanged((g) => changed.push(g));
  reg.start();
  return { reg, broker, gone, changed };
}

/** Another gateway's heartbeat, as it publishes it. */
async function beat(id: string, gen = 0): Promise<void> {
  nc.publish(gatewayHeartbeatSubject(id), JSON.stringify({ gen }));
  await nc.flush();
}

describe("a gateway's heartbeats and when it is gone", () => {
  test.each([1500, DEFAULTS.goneAfterMs])("GATEWAY_GONE_AFTER=%p ms: alive until that long after its last heartbeat, gone at the first look after", async (goneAfterMs) => {
    const clock = { now: 1_000_000 };
    const { reg, broker, gone, changed } = await registry(`watcher-${goneAfterMs}`, goneAfterMs, clock);
    try {
      const other = `other-${goneAfterMs}`;
      // Beats until one is heard: the registry's subscription is made in the background.
      await waitFor("heard", async () => {
        await beat(other);
        return reg.alive(other);
      });
      expect(changed).toEqual([other]); // the same gen again is not news
      clock.now += goneAfterMs - 1000;
      const lastHeard = clock.now;
      await beat(other, 1); // heard again (a new gen, so the registry tells): its silence counts from here
      await waitFor("heard again", () => changed.length === 2);
      clock.now = lastHeard + goneAfterMs;
      reg.expire();
      expect({ alive: reg.alive(other), gone }).toEqual({ alive: true, gone: [] });
      clock.now = lastHeard + goneAfterMs + 1;
      reg.expire();
      expect({ alive: reg.alive(other), gone }).toEqual({ alive: false, gone: [other] });
      reg.expire();
      expect(gone).toEqual([other]); // told once
    } finally {
      reg.stop();
      await broker.close();
    }
  });

  test("with the defaults, the dead gateway's members leave within 30 s: gone after 15 s of silence, looked for every 5 s", () => {
    // The look runs every heartbeat interval, so a gateway killed right after its last heartbeat is
    // told gone at most GONE_AFTER + HEARTBEAT later.
    expect(DEFAULTS.goneAfterMs).toBe(15_000);
    expect(DEFAULTS.heartbeatMs).toBe(5000);
    expect(DEFAULTS.goneAfterMs + DEFAULTS.heartbeatMs).toBeLessThanOrEqual(30_000);
  });
});
