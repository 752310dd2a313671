import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NOTIFICATIONS_STREAM, metricsSubject, userStoreSubject } from "@rt/protocol";
import { ServiceProcess, TestNats, TestSocket, TestSystem, TEST_JWT_SECRET, waitFor, NATS_ADMIN } from "@rt/testkit";
import { frames, inbox, metric, notify } from "./helpers.ts";

describe("delivery receipts", () => {
  test("a notification that reaches a socket through a store read (a since replay) is receipted delivered: true", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true });
    const pending = notify(sys, "una", "while offline", { wait_for_delivery_ms: 3000 });
    // Stored (and so announced) while nobody is online: it can only reach the socket through a store read.
    const nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
    const jsm = await jetstreamManager(nc);
    await waitFor("stored", async () => (await jsm.streams.info(NOTIFICATIONS_STREAM)).state.messages === 1);
    await nc.close();
    await using s = await inbox(sys.gw(0), "una", "&since=0");
    const answer = await pending;
    await s.waitForMessages(1);
    expect(frames(s)[0]!.seq).toBe(answer.seq);
    expect(answer.delivered).toBe(true);
  });
});

describe("the monitor's host cache", () => {
  const sample = (host: string, interval_ms: number) => JSON.stringify({ timestamp: new Date().toISOString(), cpu_load: 0.5, memory_usage: 40, host, interval_ms });

  test("hosts that stopped are not sent to new sockets, and a full cache takes new hosts by evicting them", async () => {
    await using nats = await TestNats.start();
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" });
    const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
    for (let i = 0; i < 1024; i++) nc.publish(metricsSubject(`old-${i}`), sample(`old-${i}`, 100));
    await nc.flush();
    await using first = await TestSocket.open(`${gw.ws}/system-monitor`);
    await first.waitForMessages(1024);
    // Three periods (at least 3 s, the cache's floor) without a sample: every old host is gone. The
    // gateway heard each before this socket had it, so 3 s from now is past every one's expiry
    // (a host's life is time itself: this waits on the clock, from an observed event).
    const lastHeard = Date.now();
    await waitFor("three periods (at least 3 s) since the old hosts' samples", () => Date.now() > lastHeard + 3000, 10_000, 50);

    await using later = await TestSocket.open(`${gw.ws}/system-monitor`);
    // What a new socket is sent at open (the live hosts) comes before anything published after:
    // so the newcomer's sample is the first it gets, or a departed host was sent.
    nc.publish(metricsSubject("newcomer"), sample("newcomer", 1000));
    await later.waitForMessages(1);
    expect(later.messages.map((m) => (JSON.parse(m) as { host: string }).host)).toEqual(["newcomer"]); // departed hosts are not sent
    await using last = await TestSocket.open(`${gw.ws}/system-monitor`);
    await last.waitForMessages(1);
    expect(JSON.parse(last.messages[0]!).host).toBe("newcomer");
    expect(await metric(gw, "rt_rejections_total", 'reason="metrics_too_many_hosts"')).toBe(0);
    await nc.close();
  });
});

describe("a missing inbox stream", () => {
  test("sockets wait for it quietly (a cause logged once per interval, not a warning per socket every 500 ms) and resume as soon as it exists", async () => {
    await using sys = await TestSystem.start({ gateways: 1, gatewayEnv: { LOG_LEVEL: "info" } });
    // What the gateway asks JetStream about the inbox stream, seen by this connection too (it does
    // not answer): its looks for the stream (STREAM.INFO, again and again with backoff while it is
    // missing) and any read of a user's notifications (MSG.GET naming the user's subject).
    const nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
    const users = Array.from({ length: 20 }, (_, i) => `w${i}`);
    let looks = 0;
    const reads: string[] = [];
    nc.subscribe(`$JS.API.STREAM.INFO.${NOTIFICATIONS_STREAM}`, { callback: () => void looks++ });
    nc.subscribe(`$JS.API.STREAM.MSG.GET.${NOTIFICATIONS_STREAM}`, { callback: (_err, m) => void reads.push(new TextDecoder().decode(m.data)) });
    await nc.flush();
    const sockets: TestSocket[] = [];
    for (const u of users) sockets.push(await inbox(sys.gw(0), u, "&since=0"));
    // The gateway's next look for the stream, with every socket open: they wait for it quietly,
    // without a read of their own to retry (so without a warning each) meanwhile.
    const looksBefore = looks;
    await waitFor("the gateway's next look for the stream", () => looks > looksBefore, 15_000, 50);
    await nc.close();
    expect(reads.filter((r) => users.some((u) => r.includes(`"${userStoreSubject(u)}"`)))).toEqual([]);
    const warnings = sys.gw(0).logs.split("\n").filter((l) => l.includes('"level":40'));
    expect(warnings.length).toBeLessThanOrEqual(3);
    await using notifier = await ServiceProcess.start("notifier", { NATS_URL: sys.natsUrl, LOG_LEVEL: "warn" });
    const t0 = Date.now();
    const r = await fetch(`${notifier.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "w7", body: "hello" }) });
    expect(r.status).toBe(202);
    await sockets[7]!.waitForMessages(1, 5000);
    expect(Date.now() - t0).toBeLessThan(3000);
    for (const s of sockets) s.close();
  });
});
