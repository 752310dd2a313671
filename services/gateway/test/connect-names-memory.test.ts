// A connection token's channels are looked up and answered as own names only: a server-side
// subscription whose channel is named like an Object.prototype member (`__proto__`, `constructor`,
// `toString`: channels without a namespace may be, with `without_namespace`) is in the connect
// reply's `subs` like any other. One gateway in this process, on the memory broker.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestSocket, signToken, waitFor } from "@rt/testkit";
import { MemoryNats } from "../src/broker/memory-nats.ts";
import { MemoryGateway } from "./fixtures/memory-gateway.ts";

const dir = mkdtempSync(join(tmpdir(), "rt-connect-names-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("every channel of the token's claim has its result in subs, __proto__ and constructor included; a recovery asked for one is answered for it", async () => {
  const file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify({ channel: { without_namespace: { allow_subscribe_for_client: true, history_size: 5, history_ttl: "60s", force_recovery: true } } }));
  await using g = await MemoryGateway.start(new MemoryNats(), { CHANNELS_FILE: file });
  const channels = ["__proto__", "constructor", "toString", "plain"];
  await using s = await TestSocket.open(g.url);
  // Written as text: the `__proto__` key is an own key of the parsed request, as any JSON parser makes it.
  const token = await signToken("proto-user", { claims: { channels } });
  s.send(`{"id":1,"connect":{"token":${JSON.stringify(token)},"subs":{"__proto__":{"recover":true,"epoch":"old","offset":3}}}}`);
  await waitFor("the connect reply", () => s.messages.length > 0 || s.closeCode !== undefined);
  const reply = JSON.parse(s.messages[0]!) as { connect?: { subs: Record<string, { recoverable?: boolean; was_recovering?: boolean }> } };
  const subs = reply.connect!.subs;
  expect(Object.keys(subs).sort()).toEqual(["#proto-user", ...channels].sort());
  for (const ch of channels) expect(subs[ch]).toMatchObject({ recoverable: true });
  expect(subs.__proto__).toMatchObject({ was_recovering: true });
  expect(subs.constructor).not.toHaveProperty("was_recovering");
});
