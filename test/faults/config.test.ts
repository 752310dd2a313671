import { describe, expect, test } from "bun:test";
import { ServiceProcess, TestNats, TEST_JWT_SECRET, runToExit } from "@rt/testkit";

describe("configuration that used to be accepted and fail later", () => {
  test("MAX_MESSAGE_BYTES above the NATS server's max_payload: exit 2 naming it once connected (a 1.2 MB room frame would reach only one gateway)", async () => {
    await using nats = await TestNats.start({ maxPayload: 1024 * 1024 });
    const { code, output } = await runToExit("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "error", MAX_MESSAGE_BYTES: String(1200 * 1024), BACKPRESSURE_LIMIT_BYTES: String(8 * 1024 * 1024) });
    expect(code).toBe(2);
    expect(output).toContain("gateway: invalid configuration: MAX_MESSAGE_BYTES: ");
    expect(output).toContain("max_payload of 1048576");
    // The same value with a server that carries it is fine.
    await using roomy = await TestNats.start({ maxPayload: 4 * 1024 * 1024 });
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: roomy.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn", MAX_MESSAGE_BYTES: String(1200 * 1024), BACKPRESSURE_LIMIT_BYTES: String(8 * 1024 * 1024) });
    expect((await fetch(`${gw.http}/readyz`)).status).toBe(200);
  });

  test("BACKPRESSURE_LIMIT_BYTES below twice the largest frame (a wedged inbox): exit 2 naming it", async () => {
    const { code, output } = await runToExit("gateway", { JWT_SECRET: TEST_JWT_SECRET, BACKPRESSURE_LIMIT_BYTES: String(300 * 1024) });
    expect(code).toBe(2);
    expect(output.trim().split("\n")).toHaveLength(1);
    expect(output).toContain("BACKPRESSURE_LIMIT_BYTES: must be at least 526336");
  });

  test.each([["NOTIFICATIONS_MAX_AGE", "200000d"], ["NOTIFIER_DEDUP_WINDOW", "99999999999h"]])("%s=%s (beyond JetStream's int64 nanoseconds): exit 2 naming it", async (variable, value) => {
    const { code, output } = await runToExit("notifier", { [variable]: value });
    expect(code).toBe(2);
    expect(output.trim()).toBe(`notifier: invalid configuration: ${variable}: must be at most 3650d, got "${value}"`);
  });

  test.each([["0"], ["6"], ["three"]])("JETSTREAM_REPLICAS=%s: exit 2 naming it", async (value) => {
    const { code, output } = await runToExit("notifier", { JETSTREAM_REPLICAS: value });
    expect(code).toBe(2);
    expect(output).toContain("JETSTREAM_REPLICAS");
  });
});
