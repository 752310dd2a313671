import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NOTIFICATIONS_STREAM } from "@rt/protocol";
import { ServiceProcess, TestNats, TestSocket, TestSystem, TEST_JWT_SECRET, waitFor, NATS_ADMIN } from "@rt/testkit";
import { frames, inbox, notify, readyIs } from "./helpers.ts";

describe("the inbox stream lost and created anew", () => {
  test("connected sockets get the new notifications, every frame carries the epoch, and ?epoch= of the old life replays the whole new inbox", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true });
    const before = [];
    for (let i = 0; i < 5; i++) before.push(await notify(sys, "sam", `old ${i}`));
    await using live = await inbox(sys.gw(0), "sam");
    await using resumed = await inbox(sys.gw(1), "sam", "&since=0");
    await resumed.waitForMessages(5);
    const oldEpoch = frames(resumed)[0]!.epoch;
    expect(oldEpoch).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(frames(resumed).every((f) => f.epoch === oldEpoch)).toBe(true);
    expect(before.every((b) => b.epoch === oldEpoch)).toBe(true);
    const lastOld = frames(resumed).at(-1)!.seq;

    // An operator deletes the stream; the notifier creates it anew and its seqs start again at 1.
    const nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
    await (await jetstreamManager(nc)).streams.delete(NOTIFICATIONS_STREAM);
    await readyIs(sys.notifier!, 200);
    let after: Array<{ seq: number; epoch?: string }> = [];
    await waitFor("the notifier stores again", async () => {
      try {
        after.push(await notify(sys, "sam", `new ${after.length}`));
        return true;
      } catch {
        return false;
      }
    }, 15_000, 200);
    for (let i = 1; i < 4; i++) after.push(await notify(sys, "sam", `new ${i}`));
    const newEpoch = after[0]!.epoch!;
    expect(newEpoch).not.toBe(oldEpoch);
    expect(after[0]!.seq).toBeLessThanOrEqual(lastOld); // the seqs really started again

    // A marker after them (one user's arrive in seq order): a repeat or an old one would come before it.
    const has = (s: TestSocket, seq: number) => s.until(() => frames(s).some((f) => f.seq === seq && f.epoch === newEpoch), `seq ${seq}`, 10_000);
    after.push(await notify(sys, "sam", "marker 1"));
    for (const s of [live, resumed]) await has(s, after.at(-1)!.seq);
    expect(frames(live).map((f) => [f.seq, f.epoch])).toEqual(after.map((a) => [a.seq, newEpoch]));
    expect(frames(resumed).slice(5).map((f) => [f.seq, f.epoch])).toEqual(after.map((a) => [a.seq, newEpoch]));

    // A client resuming from the old life: its since would hide the new seqs, its epoch says why.
    await using back = await inbox(sys.gw(0), "sam", `&since=${lastOld}&epoch=${oldEpoch}`);
    after.push(await notify(sys, "sam", "marker 2"));
    await has(back, after.at(-1)!.seq);
    expect(frames(back).map((f) => f.seq)).toEqual(after.map((a) => a.seq));
    // The same epoch: since means what it says.
    await using same = await inbox(sys.gw(1), "sam", `&since=${after[1]!.seq}&epoch=${newEpoch}`);
    after.push(await notify(sys, "sam", "marker 3"));
    await has(same, after.at(-1)!.seq);
    expect(frames(same).map((f) => f.seq)).toEqual(after.slice(2).map((a) => a.seq));
    await nc.close();
  });

  test("?epoch= must look like an epoch: 400 before the upgrade", async () => {
    await using sys = await TestSystem.start({ gateways: 1 });
    const { upgradeStatus, signToken } = await import("@rt/testkit");
    const token = await signToken("u");
    for (const bad of ["", "a.b", "x".repeat(33), "%2A"]) {
      expect((await upgradeStatus(`${sys.gw(0).ws}/notifications?token=${token}&since=0&epoch=${bad}`)).status).toBe(400);
    }
  });
});

describe("start-up without NATS or JetStream", () => {
  test("the gateway answers /healthz at once with NATS down, /readyz 503 with the reason, and becomes ready by itself", async () => {
    await using nats = await TestNats.start();
    await nats.stop();
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" }, { waitReady: false });
    // Within 5 s of the spawn (the wait's own bound: a separate `< 5000` after it could not fail),
    // and while NATS is still down, as /readyz then says.
    await waitFor("healthz", async () => (await fetch(`${gw.http}/healthz`)).status === 200, 5000, 20);
    const r = await fetch(`${gw.http}/readyz`);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { reason: string }).reason).toBe("nats disconnected");
    await nats.restart();
    await readyIs(gw, 200);
    expect(gw.proc.exitCode).toBeNull();
  });

  test("with NATS up but JetStream not: no crash, 503 'jetstream not ready', ready once JetStream is; the notifier too", async () => {
    await using nats = await TestNats.start({ jetstream: false });
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" }, { waitReady: false });
    await using notifier = await ServiceProcess.start("notifier", { NATS_URL: nats.url, LOG_LEVEL: "warn" }, { waitReady: false });
    await waitFor("healthz", async () => (await fetch(`${gw.http}/healthz`)).status === 200, 5000, 20);
    await waitFor("the gateway says why", async () => {
      const r = await fetch(`${gw.http}/readyz`);
      return r.status === 503 && ((await r.json()) as { reason: string }).reason === "jetstream not ready";
    }, 10_000, 100);
    // Both keep going without JetStream: the notifier has failed four times (its retries are 250,
    // 500, 750 ms apart), and the gateway still answers why it is not ready after that.
    await waitFor("the notifier's fourth attempt", () => notifier.logs.includes('"attempt":4,'), 15_000, 50);
    const r = await fetch(`${gw.http}/readyz`);
    expect({ status: r.status, reason: ((await r.json()) as { reason: string }).reason }).toEqual({ status: 503, reason: "jetstream not ready" });
    expect(gw.proc.exitCode).toBeNull();
    expect(notifier.proc.exitCode).toBeNull();
    expect((await fetch(`${notifier.http}/readyz`)).status).toBe(503);
    expect(gw.logs).not.toContain("    at "); // no stack trace

    await nats.stop();
    await nats.restart({ jetstream: true });
    await readyIs(notifier, 200, 20_000);
    await readyIs(gw, 200, 20_000);
  });
});
