// A namespace without history (core NATS only) when a gateway's NATS link is cut: what docs/channels.md
// promises, and no more. Two gateways, each behind its own FaultProxy to one nats-server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SdkClient, TestSystem, signToken, waitFor } from "@rt/testkit";
import { readyIs } from "./helpers.ts";

let dir: string;
let sys: TestSystem;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rt-live-cut-"));
  const file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify({ channel: { namespaces: [{ name: "game", allow_subscribe_for_client: true, allow_publish_for_subscriber: true }] } }));
  sys = await TestSystem.start({ gateways: 2, proxied: true, gatewayEnv: { CHANNELS_FILE: file } });
});
afterAll(async () => {
  await sys?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

async function client(gw: number, user: string): Promise<SdkClient> {
  const c = SdkClient.create(`${sys.gw(gw).ws}/connection/websocket`, { token: await signToken(user) });
  await c.connect();
  return c;
}

describe("a channel without history, its gateway's link to NATS slow", () => {
  test("a subscribe is answered once the gateway's interest is in NATS: a publication from another gateway right after the reply arrives", async () => {
    await using a = await client(0, "slow-a");
    await using b = await client(1, "slow-b");
    const sa = await a.subscribe("game:slow");
    const link = sys.proxy(sys.gw(1));
    // What b's gateway sends NATS (its subscription of the channel) takes a second to get there.
    link.delay(1000, "toUpstream");
    try {
      await b.subscribe("game:slow");
    } finally {
      link.delay(0);
    }
    await sa.publish({ n: "right after b's subscribe reply" });
    await b.waitFor("game:slow", 1);
    expect(b.data("game:slow")).toEqual([{ n: "right after b's subscribe reply" }]);
  }, 60_000);
});

describe("a channel without history, its gateway cut off from NATS", () => {
  test("publishing there is 100 (temporary) and nothing of the other gateway arrives; once the link is back publications flow both ways, nothing replayed", async () => {
    await using a = await client(0, "cut-a");
    await using b = await client(1, "cut-b");
    const sa = await a.subscribe("game:cut");
    const sb = await b.subscribe("game:cut");
    await sa.publish({ n: "before" });
    await b.waitFor("game:cut", 1);

    sys.proxy(sys.gw(0)).cut();
    await readyIs(sys.gw(0), 503); // the gateway noticed
    const refused = await sa.publish({ n: "during, from a" }).then(() => undefined, (e: { code?: number }) => e);
    expect(refused).toMatchObject({ code: 100 });
    await sb.publish({ n: "during, from b" });
    await b.until(() => b.data("game:cut").some((d) => (d as { n: string }).n === "during, from b"), "b's own, at once");

    sys.proxy(sys.gw(0)).restore();
    await readyIs(sys.gw(0), 200);
    // After the link is back (the gateway's NATS subscription restored): b's publications reach a again; the first that does is the positive control that the cut's did not come late.
    await waitFor("a gets b's publications again", async () => {
      await sb.publish({ n: "after" });
      return a.data("game:cut").some((d) => (d as { n: string }).n === "after");
    }, 15_000, 200);
    expect(a.data("game:cut").map((d) => (d as { n: string }).n).filter((n) => n !== "after")).toEqual(["before"]);
    await sa.publish({ n: "after, from a" });
    await b.until(() => b.data("game:cut").some((d) => (d as { n: string }).n === "after, from a"), "a's publications reach b again");
  }, 60_000);
});
