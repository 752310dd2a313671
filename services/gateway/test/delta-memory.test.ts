// Fossil deltas through two whole gateways in this process (the memory broker, fixtures/
// memory-gateway.ts) and the real SDK, JSON and Protobuf: each gateway computes one delta per
// publication of a channel, for all its delta subscribers of both encodings (counted on the
// encoder itself), never one per subscriber. Both hubs: a namespace with history (StreamHub) and
// one without (LiveHub).
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subscription } from "centrifuge";
import { SdkClient, signToken, waitFor } from "@rt/testkit";
import { MemoryNats } from "../src/broker/memory-nats.ts";
import * as fossil from "../src/channels/delta/fossil.ts";
import { MemoryGateway } from "./fixtures/memory-gateway.ts";

const FILE = {
  channel: {
    namespaces: [
      { name: "doc", history_size: 50, history_ttl: "300s", allow_subscribe_for_client: true, allow_publish_for_subscriber: true, allowed_delta_types: ["fossil"], delta_publish: true },
      { name: "live", allow_subscribe_for_client: true, allow_publish_for_subscriber: true, allowed_delta_types: ["fossil"], delta_publish: true },
    ],
  },
};

let dir: string;
let gws: MemoryGateway[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rt-delta-memory-"));
  const file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify(FILE));
  const nats = new MemoryNats();
  gws = [await MemoryGateway.start(nats, { CHANNELS_FILE: file }), await MemoryGateway.start(nats, { CHANNELS_FILE: file })];
  await waitFor("gateways know each other", () => gws.every((g) => gws.every((o) => o === g || g.registry.alive(o.registry.id))));
});
afterAll(async () => {
  for (const g of gws) await g[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

const statsOf = (sub: Subscription) => (sub as unknown as { deltaStats(): { numPublications: number; numFullPayloads: number; numDeltaPayloads: number } }).deltaStats();

/** A document of about 3 KB and its next version, one row changed. */
function versions(n: number): unknown[] {
  let doc = { rev: 0, rows: Array.from({ length: 40 }, (_, id) => ({ id, name: `Ана ${id} 東京`, score: id * 7 })) };
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    doc = structuredClone(doc);
    doc.rev = i;
    doc.rows[(i * 13) % 40]!.score += i;
    out.push(doc);
  }
  return out;
}

describe("deltas on two in-process gateways", () => {
  for (const channel of ["doc:board", "live:board"]) {
    test(`${channel}: one delta per publication on each gateway for its 12 delta subscribers of both encodings`, async () => {
      const clients: SdkClient[] = [];
      try {
        const subs: Subscription[] = [];
        for (let i = 0; i < 24; i++) {
          const c = SdkClient.create(gws[i % 2]!.url, { token: await signToken(`u${i}`) }, i % 4 < 2 ? "json" : "protobuf");
          clients.push(c);
          await c.connect();
          subs.push(await c.subscribe(channel, { delta: "fossil" }));
        }
        const publisher = SdkClient.create(gws[0]!.url, { token: await signToken("pub") });
        clients.push(publisher);
        await publisher.connect();
        await publisher.subscribe(channel); // publishes as a subscriber; reads plain publications
        const docs = versions(15);
        const encoder = spyOn(fossil, "fossilDelta");
        try {
          for (let i = 0; i < docs.length; i++) {
            await publisher.centrifuge.publish(channel, docs[i]);
            // Every subscriber has it before the next: each gateway's turn holds one publication.
            for (const c of clients) await c.waitFor(channel, i + 1);
          }
          // The first went whole on each gateway (nobody held a base); each next one was diffed once per gateway.
          expect(encoder).toHaveBeenCalledTimes(2 * (docs.length - 1));
        } finally {
          encoder.mockRestore();
        }
        for (const c of clients) expect(c.data(channel)).toEqual(docs);
        for (const s of subs) expect(statsOf(s)).toMatchObject({ numPublications: docs.length, numFullPayloads: 1, numDeltaPayloads: docs.length - 1 });
      } finally {
        for (const c of clients) await c[Symbol.asyncDispose]();
      }
    });
  }
});
