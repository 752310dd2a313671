import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestNats, waitFor } from "@rt/testkit";
import type { OpenGroup } from "../client/messages.ts";
import { WorkerPool } from "./pool.ts";
import { startFloor, startRawBun, stopAll, type Target } from "./targets.ts";

const HOST = "127.0.0.1";
const pool = new WorkerPool();
let nats: TestNats;

beforeAll(async () => {
  nats = await TestNats.start();
});

afterAll(async () => {
  await pool[Symbol.asyncDispose]();
  await stopAll();
  await nats?.[Symbol.asyncDispose]();
});

/** `rooms` rooms of `members` on `port`, opened in one call: room k's sockets are k*members .. k*members + members - 1. */
function roomGroups(port: number, rooms: number, members: number, prefix: string): OpenGroup[] {
  return Array.from({ length: rooms }, (_, k) => ({ host: HOST, port, path: `/chat/${prefix}-${k}`, count: members }));
}

describe("client worker", () => {
  test("a pump keeps a window in flight in every lane (room), and every member gets every message", async () => {
    await using raw: Target = await startRawBun();
    const [w] = pool.take(1);
    const rooms = 3;
    const members = 4;
    const opened = await w!.open(roomGroups(raw.ports[0]!, rooms, members, "pump"));
    expect(opened.failed).toBe(0);
    await w!.reset();
    const lanes = Array.from({ length: rooms }, (_, k) => ({ senders: [opened.first + k * members], paces: [opened.first + k * members], payload: `m${k}` }));
    const p = await w!.pump({ lanes, window: 8, durationMs: 300 });
    expect(p.stalled).toBe(false);
    // At least a window per lane went out; every one reaches the room's members.
    expect(p.sent).toBeGreaterThanOrEqual(rooms * 8);
    await waitFor("every delivery", async () => (await w!.stats()).frames >= p.sent * members, 10_000);
    // A positive control: one more message into room 0 arrives, and no stray deliveries came before it.
    await w!.reset();
    const one = await w!.pump({ lanes: [lanes[0]!], window: 1, durationMs: 1 });
    await waitFor("the marker", async () => (await w!.stats()).frames >= one.sent * members, 10_000);
    expect((await w!.stats()).frames).toBe(one.sent * members);
    await w!.closeAll();
  });

  test("open-loop sends carry each room's seq on from one call to the next: no delivery is taken for a repeat", async () => {
    await using floor: Target = await startFloor("nats-floor", nats.url);
    const [w] = pool.take(1);
    // Room k: socket 2k sends, socket 2k+1 times what it gets (notify mode reads `{"seq","body"}`).
    const senders = await w!.open(roomGroups(floor.ports[0]!, 2, 1, "rate"));
    const probes = await w!.open(roomGroups(floor.ports[0]!, 2, 1, "rate"), "notify");
    expect(senders.failed + probes.failed).toBe(0);
    await w!.reset();
    const lanes = [0, 1].map((k) => ({ senders: [senders.first + k], before: `{"seq":`, middle: `,"body":"`, after: `"}` }));
    let sent = 0;
    for (const durationMs of [200, 200]) {
      const r = await w!.rate({ lanes, ratePerSec: 100, durationMs });
      sent += r.sent;
      // Each message reaches the sender and the probe of its room.
      await waitFor("every delivery", async () => (await w!.stats()).frames >= sent * 2, 10_000);
    }
    const s = await w!.stats(true);
    expect(s.frames).toBe(sent * 2);
    expect(s.decodeErrors).toBe(0);
    expect(s.duplicates).toBe(0);
    expect(s.latencies!.length).toBe(sent);
    await w!.closeAll();
  });
});
