// The gateway's configuration in-process: NATS credentials, the demo page's notifier, server timers.
import { describe, expect, test } from "bun:test";
import { ConfigErrors } from "@rt/runtime";
import { TEST_JWT_SECRET } from "@rt/testkit";
import { loadGatewayConfig } from "../../src/config.ts";

const base = { JWT_SECRET: TEST_JWT_SECRET };
/** The variables named by the ConfigErrors `env` gives. */
function refused(env: Record<string, string>): string[] {
  try {
    loadGatewayConfig({ ...base, ...env });
  } catch (err) {
    if (err instanceof ConfigErrors) return err.errors.map((e) => e.message);
    throw err;
  }
  return [];
}

describe("NATS credentials", () => {
  test("none by default; a user and password; a token", () => {
    expect(loadGatewayConfig(base).natsAuth).toEqual({});
    expect(loadGatewayConfig({ ...base, NATS_USER: "gateway", NATS_PASSWORD: "pw" }).natsAuth).toEqual({ user: "gateway", pass: "pw" });
    expect(loadGatewayConfig({ ...base, NATS_TOKEN: "tok" }).natsAuth).toEqual({ token: "tok" });
  });

  test("a half pair or two ways are refused with the other variables", () => {
    expect(refused({ NATS_USER: "gateway", PORT: "x" })).toEqual(["PORT: must be a whole number, got \"x\"", "NATS_PASSWORD: is required with NATS_USER"]);
    expect(refused({ NATS_USER: "gateway", NATS_PASSWORD: "pw", NATS_TOKEN: "tok" })[0]).toStartWith("NATS_TOKEN: cannot be combined with NATS_USER/NATS_PASSWORD");
  });
});

describe("the demo page's notifier", () => {
  test("read with DEMO_PAGE=1 only: the notifier's default port on this host, or the URL and token given", () => {
    expect(loadGatewayConfig(base).demoNotifier).toBeUndefined();
    expect(loadGatewayConfig({ ...base, DEMO_NOTIFIER_URL: "not a url" }).demoNotifier).toBeUndefined(); // meaningless without the page
    expect(loadGatewayConfig({ ...base, DEMO_PAGE: "1" }).demoNotifier).toEqual({ url: "http://127.0.0.1:8081" });
    expect(loadGatewayConfig({ ...base, DEMO_PAGE: "1", DEMO_NOTIFIER_URL: "https://notifier.internal/base/", DEMO_NOTIFIER_TOKEN: "t" }).demoNotifier).toEqual({ url: "https://notifier.internal/base/", token: "t" });
  });

  test.each(["not a url", "nats://127.0.0.1:4222", "127.0.0.1:8081", "http://", "http://host name:1"])("DEMO_NOTIFIER_URL=%p is refused", (url) => {
    expect(refused({ DEMO_PAGE: "1", DEMO_NOTIFIER_URL: url })).toEqual([`DEMO_NOTIFIER_URL: must be an http(s) URL such as http://127.0.0.1:8081, got ${JSON.stringify(url)}`]);
  });
});

describe("server timers", () => {
  test("PONG_TIMEOUT, GATEWAY_HEARTBEAT_INTERVAL, GATEWAY_GONE_AFTER: 10 s, 5 s and 15 s by default; durations otherwise", () => {
    const d = loadGatewayConfig(base);
    expect({ pong: d.protocol.pongTimeoutMs, cluster: d.cluster }).toEqual({ pong: 10_000, cluster: { heartbeatMs: 5000, goneAfterMs: 15_000 } });
    const set = loadGatewayConfig({ ...base, PONG_TIMEOUT: "1500ms", GATEWAY_HEARTBEAT_INTERVAL: "250ms", GATEWAY_GONE_AFTER: "2s" });
    expect({ pong: set.protocol.pongTimeoutMs, cluster: set.cluster }).toEqual({ pong: 1500, cluster: { heartbeatMs: 250, goneAfterMs: 2000 } });
  });

  test.each([
    [{ PONG_TIMEOUT: "10" }, "PONG_TIMEOUT: must be at least 100 ms"],
    [{ PONG_TIMEOUT: "2h" }, "PONG_TIMEOUT: must be at most 1h, got \"2h\""],
    [{ PONG_TIMEOUT: "soon" }, "PONG_TIMEOUT: must be a duration like 500ms, 30s, 1h or 7d, got \"soon\""],
    [{ GATEWAY_HEARTBEAT_INTERVAL: "10ms" }, "GATEWAY_HEARTBEAT_INTERVAL: must be at least 50 ms"],
    [{ GATEWAY_GONE_AFTER: "1d" }, "GATEWAY_GONE_AFTER: must be at most 1h, got \"1d\""],
    [{ GATEWAY_GONE_AFTER: "9s" }, "GATEWAY_GONE_AFTER: must be at least twice GATEWAY_HEARTBEAT_INTERVAL (5000 ms), got 9000 ms"],
    [{ GATEWAY_HEARTBEAT_INTERVAL: "1s", GATEWAY_GONE_AFTER: "1999ms" }, "GATEWAY_GONE_AFTER: must be at least twice GATEWAY_HEARTBEAT_INTERVAL (1000 ms), got 1999 ms"],
  ])("%p is refused", (env, message) => {
    expect(refused(env)).toEqual([message]);
  });
});
