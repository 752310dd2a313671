import { describe, expect, test } from "bun:test";
import { hostFromSubject, metricsSample, metricsSubject, type MetricsSample } from "@rt/protocol";
import { freePort, runToExit, ServiceProcess, TestNats, waitFor } from "@rt/testkit";
import { Subscriber } from "./nats-samples.ts";

const HOST = "host.with*odd>chars";

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

/** The value of the unlabelled series `name` in the Prometheus text at `url`, undefined when absent. */
async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(url)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("metrics process", () => {
  test("publishes valid samples every INTERVAL_MS on metricsSubject(HOST_ID)", async () => {
    await using nats = await TestNats.start();
    await using sub = await Subscriber.start(nats.url, "metrics.>");
    await using svc = await ServiceProcess.start("metrics", { NATS_URL: nats.url, INTERVAL_MS: "100", HOST_ID: HOST });
    const got = await sub.waitForCount(7, 5000);
    expect(svc.logs).not.toContain("\"level\":50");

    for (const [i, r] of got.entries()) {
      expect(r.subject).toBe(metricsSubject(HOST));
      expect(hostFromSubject(r.subject)).toBe(HOST);
      expect(metricsSample.validate(r.data)).toEqual({ ok: true, value: r.data as MetricsSample });
      expect((r.data as MetricsSample).host).toBe(HOST);
      if (i === 0) expect((r.data as MetricsSample).cpu_percent).toBeUndefined();
      else expect((r.data as MetricsSample).cpu_percent).toBeNumber();
    }
    // Paced by INTERVAL_MS: each sample says it, their times only grow, and six intervals span more
    // than 500 ms (ticks fall on slots counted from the start, never early: ticker.test.ts pins the
    // slots with a fake clock). No upper bound: a loaded machine may run any tick late.
    const stamps = got.map((r) => Date.parse((r.data as MetricsSample).timestamp));
    for (const r of got) expect((r.data as MetricsSample).interval_ms).toBe(100);
    stamps.slice(1).forEach((t, i) => expect(t).toBeGreaterThan(stamps[i]!));
    expect(stamps[6]! - stamps[0]!).toBeGreaterThan(450);
  });

  test("with PORT: /healthz, /readyz and /metrics follow NATS through a kill and restart; publishing resumes", async () => {
    await using nats = await TestNats.start();
    await using sub = await Subscriber.start(nats.url, metricsSubject(HOST));
    await using svc = await ServiceProcess.start("metrics", { NATS_URL: nats.url, INTERVAL_MS: "100", HOST_ID: HOST }, { withPort: true });
    expect(await status(`${svc.http}/healthz`)).toBe(200);
    expect(await status(`${svc.http}/readyz`)).toBe(200);
    expect(await status(`${svc.http}/nope`)).toBe(404);
    await sub.waitForCount(2);
    const metrics = `${svc.http}/metrics`;
    expect(await metric(metrics, "rt_samples_published_total")).toBeGreaterThanOrEqual(2);
    expect(await metric(metrics, "rt_nats_connected")).toBe(1);
    expect(await metric(metrics, "rt_nats_publish_failures_total")).toBe(0);
    expect(await metric(metrics, "rt_sample_duration_seconds_count")).toBeGreaterThanOrEqual(2);
    const post = await fetch(metrics, { method: "POST" });
    expect([post.status, post.headers.get("allow"), await post.json()]).toEqual([405, "GET", { error: "method not allowed" }]);

    await nats.stop(true);
    await waitFor("/readyz 503", async () => (await status(`${svc.http}/readyz`)) === 503, 5000, 20);
    expect(await status(`${svc.http}/healthz`)).toBe(200);
    // Ticks go on with nowhere to publish: each one counted as a failure.
    await waitFor("a tick with nowhere to publish", async () => ((await metric(metrics, "rt_nats_publish_failures_total")) ?? 0) > 0, 5000, 20);
    expect(await metric(metrics, "rt_nats_connected")).toBe(0);
    expect(await metric(metrics, "rt_nats_publish_failures_total")).toBeGreaterThan(0);

    await nats.restart();
    await waitFor("/readyz 200", async () => (await status(`${svc.http}/readyz`)) === 200, 5000, 20);
    const before = sub.received.length;
    const after = await sub.waitForCount(before + 3, 5000);
    for (const r of after.slice(before)) expect(metricsSample.check(r.data)).toBe(true);
    expect(svc.proc.exitCode).toBeNull();
    expect(svc.logs).toContain("nats disconnected");
    expect(svc.logs).toContain("nats reconnected");
    expect(svc.logs).toContain("dropping samples");
    expect(svc.logs).toContain("publishing again");
  });

  test("SIGTERM and SIGINT exit 0 promptly, with NATS up, down, or never reached", async () => {
    await using nats = await TestNats.start();
    const env = { NATS_URL: nats.url, INTERVAL_MS: "100", HOST_ID: HOST };

    await using up = await ServiceProcess.start("metrics", env, { withPort: true });
    let t0 = performance.now();
    expect(await up.stop("SIGTERM")).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(up.logs).toContain("shutting down");

    await using down = await ServiceProcess.start("metrics", env, { withPort: true });
    await nats.stop(true);
    await waitFor("/readyz 503", async () => (await status(`${down.http}/readyz`)) === 503, 5000, 20);
    t0 = performance.now();
    expect(await down.stop("SIGTERM")).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1500);

    const nowhere = `nats://127.0.0.1:${await freePort()}`;
    await using never = await ServiceProcess.start("metrics", { ...env, NATS_URL: nowhere }, { withPort: true, waitReady: false });
    await waitFor("/healthz", async () => (await status(`${never.http}/healthz`)) === 200, 5000, 20);
    expect(await status(`${never.http}/readyz`)).toBe(503);
    t0 = performance.now();
    expect(await never.stop("SIGINT")).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  test.each([
    ["INTERVAL_MS", "10", "10"],
    ["INTERVAL_MS", "soon", "soon"],
    ["PORT", "99999", "99999"],
    ["PORT", "eighty", "eighty"],
    ["HOST_ID", "a control character", "bad\u0001host"],
    ["LOG_LEVEL", "chatty", "chatty"],
  ])("%s=%s exits 2 with one line naming the variable", async (name, _label, value) => {
    const { code, output } = await runToExit("metrics", { NATS_URL: "nats://127.0.0.1:1", [name]: value });
    expect(code).toBe(2);
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toContain(name);
  });
});
