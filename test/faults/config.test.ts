import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
    expect(output).toContain("BACKPRESSURE_LIMIT_BYTES: must be at least 532480");
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

describe("every bad variable in one run", () => {
  test("the gateway names each bad variable on its own line, exit 2", async () => {
    const { code, output } = await runToExit("gateway", { JWT_SECRET: TEST_JWT_SECRET, PORT: "abc", LOG_LEVEL: "loud", ALLOWED_ORIGINS: "example.com", IDLE_TIMEOUT_SEC: "961" });
    expect(code).toBe(2);
    const lines = output.trim().split("\n");
    expect(lines.map((l) => l.split(":")[2]!.trim())).toEqual(["ALLOWED_ORIGINS", "PORT", "LOG_LEVEL", "IDLE_TIMEOUT_SEC"]);
    for (const l of lines) expect(l).toStartWith("gateway: invalid configuration: ");
    expect(output).toContain("scheme://host[:port]");
    expect(output).toContain("between 0 and 960");
  });

  test("the stream bounds and the room creation rate: exit 2 naming each", async () => {
    const { code, output } = await runToExit("gateway", { JWT_SECRET: TEST_JWT_SECRET, ROOMS_MAX_BYTES: "65536", CHANNEL_CREATE_RATE_PER_MIN: "often", CHANNEL_CREATE_BURST: "0" });
    expect(code).toBe(2);
    expect(output.trim().split("\n").map((l) => l.split(":")[2]!.trim())).toEqual(["CHANNEL_CREATE_RATE_PER_MIN", "CHANNEL_CREATE_BURST", "ROOMS_MAX_BYTES"]);
    expect(output).toContain("ROOMS_MAX_BYTES: must be at least 135680"); // twice roomMaxMessageSize(65536): 65536 + 2048 + 256
  });

  test("the proxies: exit 2 naming each bad PROXY_* variable", async () => {
    const { code, output } = await runToExit("gateway", { JWT_SECRET: TEST_JWT_SECRET, PROXY_TIMEOUT: "1 minute", PROXY_CONNECT: "yes please", PROXY_HTTP_HEADERS: "cookie,x real ip" });
    expect(code).toBe(2);
    expect(output.trim().split("\n").map((l) => l.split(":")[2]!.trim())).toEqual(["PROXY_HTTP_HEADERS", "PROXY_TIMEOUT", "PROXY_CONNECT"]);
  });

  test("CHANNELS_FILE: every problem of the file on its own line, naming the namespace and the option as written, exit 2, in the gateway and the notifier alike", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-bad-channels-"));
    try {
      const file = join(dir, "channels.json");
      writeFileSync(file, JSON.stringify({
        channel: {
          namespaces: [
            { name: "orders", history_size: 10, presense: true, allow_publish_for_client: "yes" },
            { name: "orders" },
            { name: "bad name" },
            { name: "maps", subscription_type: "map", history_ttl: "1.5s", history_size: 1 },
          ],
        },
      }));
      const expected = [
        'CHANNELS_FILE: namespace "orders": unknown option: presense',
        'CHANNELS_FILE: namespace "orders": allow_publish_for_client: must be true or false, got "yes"',
        'CHANNELS_FILE: namespace "orders": history_ttl: must be set too when history_size is (history needs both)',
        'CHANNELS_FILE: namespace "orders": duplicate namespace (namespaces[0] and namespaces[1])',
        'CHANNELS_FILE: namespaces[2]: name: must match ^[A-Za-z0-9_.-]{1,64}$, got "bad name"',
        'CHANNELS_FILE: namespace "maps": not supported: subscription_type',
        'CHANNELS_FILE: namespace "maps": history_ttl: must be whole seconds, got "1.5s"',
      ];
      for (const [service, env] of [["gateway", { JWT_SECRET: TEST_JWT_SECRET }], ["notifier", {}]] as const) {
        const { code, output } = await runToExit(service, { ...env, CHANNELS_FILE: file });
        expect(code).toBe(2);
        expect(output.trim().split("\n")).toEqual(expected.map((line) => `${service}: invalid configuration: ${line}`));
      }
      const missing = await runToExit("gateway", { JWT_SECRET: TEST_JWT_SECRET, CHANNELS_FILE: join(dir, "none.json") });
      expect(missing.code).toBe(2);
      expect(missing.output.trim()).toBe(`gateway: invalid configuration: CHANNELS_FILE: cannot read ${join(dir, "none.json")}: ENOENT`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the notifier and the metrics service too", async () => {
    const n = await runToExit("notifier", { PORT: "x", NOTIFICATIONS_MAX_PER_USER: "0", LOG_LEVEL: "loud" });
    expect(n.code).toBe(2);
    expect(n.output.trim().split("\n")).toHaveLength(3);
    const m = await runToExit("metrics", { INTERVAL_MS: "1", PORT: "http" });
    expect(m.code).toBe(2);
    expect(m.output.trim().split("\n")).toHaveLength(2);
  });

  test.each([
    ["https://app.example.com", true],
    ["http://localhost:5173", true],
    ["https://[::1]:8443", true],
    ["capacitor://localhost", true],
    ["example.com", false],
    ["https://example.com/", false],
    ["https://Example.com", false],
    ["https://example.com:443", false],
    ["https://example.com/app", false],
    ["*", false],
  ])("ALLOWED_ORIGINS=%s accepted: %p", async (origin, ok) => {
    const { isOrigin } = await import("../../services/gateway/src/config.ts");
    expect(isOrigin(origin)).toBe(ok);
  });
});
