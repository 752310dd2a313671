import { describe, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { metricsSubject } from "@rt/protocol";
import { ServiceProcess, TestNats, TestSocket, TestSystem, TEST_JWT_SECRET, waitFor, NATS_ADMIN } from "@rt/testkit";
import { frames, inbox, metric, notify } from "./helpers.ts";

describe("delivery receipts", () => {
  test("a notification that reaches a socket through a store read (a since replay) is receipted delivered: true", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true });
    const pending = notify(sys, "una", "while offline", { wait_for_delivery_ms: 3000 });
    await Bun.sleep(300); // stored and announced; nobody is online
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
    await Bun.sleep(3200); // three periods (at least 3 s) without a sample: every old host is gone

    await using later = await TestSocket.open(`${gw.ws}/system-monitor`);
    await Bun.sleep(300);
    expect(later.messages).toEqual([]); // departed hosts are not sent
    nc.publish(metricsSubject("newcomer"), sample("newcomer", 1000));
    await later.waitForMessages(1);
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
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 20; i++) sockets.push(await inbox(sys.gw(0), `w${i}`, "&since=0"));
    await Bun.sleep(3000);
    const warnings = sys.gw(0).logs.split("\n").filter((l) => l.includes('"level":40'));
    expect(warnings.length).toBeLessThanOrEqual(3);
    await using notifier = await ServiceProcess.start("notifier", { NATS_URL: sys.natsUrl, LOG_LEVEL: "warn" });
    const t0 = Date.now();
    const r = await fetch(`${notifier.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "w7", body: "hello" }) });
    expect(r.status).toBe(202);
    await sockets[7]!.waitForMessages(1, 5000);
    expect(Date.now() - t0).toBeLessThan(3000);
    for (const s of sockets) s.close();
    void waitFor;
  });
});
