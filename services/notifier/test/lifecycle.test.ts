import { expect, test } from "bun:test";
import { jetstreamManager, DiscardPolicy, StorageType } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { NOTIFICATIONS_STREAM, NOTIFY_USER_WILDCARD } from "@rt/protocol";
import { runToExit, ServiceProcess, TestNats, waitFor, NATS_ADMIN } from "@rt/testkit";
import { post, uniqueUser } from "./helpers.ts";

test("creates the stream with the configured limits, and updates it on a restart with new ones", async () => {
  await using nats = await TestNats.start();
  const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  const jsm = await jetstreamManager(nc);
  {
    await using svc = await ServiceProcess.start("notifier", { NATS_URL: nats.url });
    const { config } = await jsm.streams.info(NOTIFICATIONS_STREAM);
    expect(config).toMatchObject({
      subjects: [NOTIFY_USER_WILDCARD], storage: StorageType.File, discard: DiscardPolicy.Old,
      max_age: nanos(7 * 86_400_000), max_msgs_per_subject: 1000, duplicate_window: nanos(3_600_000),
    });
    expect(await svc.stop("SIGTERM")).toBe(0);
  }
  {
    await using _svc = await ServiceProcess.start("notifier", {
      NATS_URL: nats.url, NOTIFIER_DEDUP_WINDOW: "10m", NOTIFICATIONS_MAX_AGE: "2d", NOTIFICATIONS_MAX_PER_USER: "3",
    });
    const { config } = await jsm.streams.info(NOTIFICATIONS_STREAM);
    expect(config).toMatchObject({ max_age: nanos(2 * 86_400_000), max_msgs_per_subject: 3, duplicate_window: nanos(600_000) });
  }
  await nc.close();
});

test("starts without NATS: /healthz 200, /readyz 503, then ready once NATS is up", async () => {
  await using nats = await TestNats.start();
  await nats.stop();
  await using svc = await ServiceProcess.start("notifier", { NATS_URL: nats.url }, { waitReady: false });
  await waitFor("healthz", async () => (await fetch(`${svc.http}/healthz`)).status === 200, 10_000);
  expect((await fetch(`${svc.http}/readyz`)).status).toBe(503);
  const early = await post(svc.http, { user_id: uniqueUser(), body: "x" });
  expect([early.status, early.headers.get("retry-after")]).toEqual([503, "1"]);
  await nats.restart();
  await waitFor("readyz", async () => (await fetch(`${svc.http}/readyz`)).status === 200, 15_000);
  expect((await post(svc.http, { user_id: uniqueUser(), body: "x" })).status).toBe(202);
});

test("SIGTERM stops the service with exit code 0", async () => {
  await using nats = await TestNats.start();
  await using svc = await ServiceProcess.start("notifier", { NATS_URL: nats.url });
  expect((await post(svc.http, { user_id: uniqueUser(), body: "x" })).status).toBe(202);
  expect(await svc.stop("SIGTERM")).toBe(0);
  expect(svc.logs).toContain("shutting down");
});

const badConfig: Array<[string, Record<string, string>]> = [
  ["NOTIFICATIONS_MAX_PER_USER", { NOTIFICATIONS_MAX_PER_USER: "abc" }],
  ["NOTIFICATIONS_MAX_PER_USER", { NOTIFICATIONS_MAX_PER_USER: "0" }],
  ["PORT", { PORT: "x" }],
  ["PORT", { PORT: "70000" }],
  ["NOTIFIER_DEDUP_WINDOW", { NOTIFIER_DEDUP_WINDOW: "1 hour" }],
  ["NOTIFICATIONS_MAX_AGE", { NOTIFICATIONS_MAX_AGE: "soon" }],
  ["NOTIFIER_DEDUP_WINDOW", { NOTIFIER_DEDUP_WINDOW: "2d", NOTIFICATIONS_MAX_AGE: "1d" }],
  ["NATS_URL", { NATS_URL: "http://x" }],
  ["LOG_LEVEL", { LOG_LEVEL: "loud" }],
  ["NOTIFIER_TOKENS", { NOTIFIER_TOKENS: " , " }],
  ["NOTIFICATIONS_MAX_BYTES", { NOTIFICATIONS_MAX_BYTES: "1GiB" }],
  ["NOTIFICATIONS_MAX_BYTES", { NOTIFICATIONS_MAX_BYTES: "4096" }],
];
test.each(badConfig)("a bad %s exits 2 naming it", async (variable, env) => {
  const { code, output } = await runToExit("notifier", env);
  expect(code).toBe(2);
  expect(output).toContain(variable);
  expect(output.trim().split("\n")).toHaveLength(1);
});
