import { describe, expect, test } from "bun:test";
import { SdkClient, TestSystem, signToken } from "@rt/testkit";
import { readyIs } from "./helpers.ts";

/**
 * Found by the chaos run (`bun run chaos --seconds 600 --seed 11`): a publish was answered `{}` as
 * soon as it entered its gateway's outbox. While the stream could not store it (its leader's node
 * killed), the gateway was killed too, and ~3,600 publications the clients had been told were
 * published were never stored. The reply now waits for the stream's confirmation.
 */
describe("a client publish into a channel with history", () => {
  test("is answered only once the stream stored it: 100 (temporary) while its gateway cannot reach NATS, and the one stored later reaches subscribers", async () => {
    await using sys = await TestSystem.start({ gateways: 2, proxied: true });
    const room = "chat:stored";
    await using a = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken("pub-a") });
    await a.connect();
    await using b = SdkClient.create(`${sys.gw(1).ws}/connection/websocket`, { token: await signToken("pub-b") });
    await b.connect();
    const sa = await a.subscribe(room);
    await b.subscribe(room);
    await sa.publish({ n: "before" });
    await b.waitFor(room, 1);

    sys.proxy(sys.gw(0)).cut();
    await readyIs(sys.gw(0), 503);
    const started = performance.now();
    const during = await sa.publish({ n: "during" }).then(() => "answered {}", (e: { code?: number }) => e);
    expect(during).toMatchObject({ code: 100 });
    expect(performance.now() - started).toBeGreaterThan(1000); // it waited for a confirmation, not refused at once

    sys.proxy(sys.gw(0)).restore();
    await readyIs(sys.gw(0), 200);
    // Still queued: stored once the link is back (the client could count it neither way).
    await b.waitFor(room, 2, 15_000);
    await sa.publish({ n: "after" });
    await b.waitFor(room, 3, 10_000);
    expect(b.data(room)).toEqual([{ n: "before" }, { n: "during" }, { n: "after" }]);
  }, 60_000);
});
