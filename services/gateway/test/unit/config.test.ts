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

describe("stream bounds and the room creation rate", () => {
  test("defaults: 1 GiB for every room together, 60 new rooms a minute in bursts of 60", () => {
    const c = loadGatewayConfig(base);
    expect({ maxBytes: c.roomHistory.maxBytes, channelCreate: c.channelCreate }).toEqual({ maxBytes: 1024 ** 3, channelCreate: { perMin: 60, burst: 60 } });
    const set = loadGatewayConfig({ ...base, ROOMS_MAX_BYTES: "20480", MAX_MESSAGE_BYTES: "1024", CHANNEL_CREATE_RATE_PER_MIN: "0", CHANNEL_CREATE_BURST: "5" });
    expect({ maxBytes: set.roomHistory.maxBytes, channelCreate: set.channelCreate }).toEqual({ maxBytes: 20480, channelCreate: { perMin: 0, burst: 5 } });
  });

  test("bad values are refused, naming the variable", () => {
    expect(refused({ ROOMS_MAX_BYTES: "1g" })).toEqual(['ROOMS_MAX_BYTES: must be a whole number, got "1g"']);
    // At least two of the largest room messages (MAX_MESSAGE_BYTES plus 2048 of envelope and 256 of headers).
    expect(refused({ ROOMS_MAX_BYTES: "16895", MAX_MESSAGE_BYTES: "6144" })).toEqual(["ROOMS_MAX_BYTES: must be at least 16896 (twice the largest room message: MAX_MESSAGE_BYTES plus 2304 of envelope and headers), got 16895"]);
    expect(refused({ ROOMS_MAX_BYTES: "16896", MAX_MESSAGE_BYTES: "6144" })).toEqual([]);
    expect(refused({ CHANNEL_CREATE_RATE_PER_MIN: "-1", CHANNEL_CREATE_BURST: "0" })).toEqual([
      'CHANNEL_CREATE_RATE_PER_MIN: must be a whole number, got "-1"',
      "CHANNEL_CREATE_BURST: must be between 1 and 1000000, got 0",
    ]);
  });
});

describe("the proxies (PROXY_*)", () => {
  test("defaults: a 1 s timeout, no connect or refresh proxy, no headers", () => {
    expect(loadGatewayConfig(base).proxy).toEqual({ timeoutMs: 1000, connect: false, refresh: false, httpHeaders: [] });
  });

  test("a duration like the others, the flags, and header names lower case, each once", () => {
    expect(loadGatewayConfig({ ...base, PROXY_TIMEOUT: "500ms", PROXY_CONNECT: "1", PROXY_REFRESH: "true", PROXY_HTTP_HEADERS: "Cookie, authorization,X-Real-IP,cookie,," }).proxy)
      .toEqual({ timeoutMs: 500, connect: true, refresh: true, httpHeaders: ["cookie", "authorization", "x-real-ip"] });
    expect(loadGatewayConfig({ ...base, PROXY_TIMEOUT: "2s" }).proxy.timeoutMs).toBe(2000);
    expect(loadGatewayConfig({ ...base, PROXY_TIMEOUT: "750" }).proxy.timeoutMs).toBe(750);
  });

  test("bad values are refused, each naming its variable", () => {
    expect(refused({ PROXY_TIMEOUT: "1 sec", PROXY_CONNECT: "maybe", PROXY_REFRESH: "2", PROXY_HTTP_HEADERS: "cookie,x real ip,a:b" })).toEqual([
      'PROXY_HTTP_HEADERS: must be a comma list of header names (e.g. cookie,authorization,x-real-ip), got "x real ip", "a:b"',
      'PROXY_TIMEOUT: must be a duration like 500ms, 30s, 1h or 7d, got "1 sec"',
      'PROXY_CONNECT: must be 1 or 0, got "maybe"',
      'PROXY_REFRESH: must be 1 or 0, got "2"',
    ]);
    expect(refused({ PROXY_TIMEOUT: "5ms" })).toEqual(["PROXY_TIMEOUT: must be at least 10 ms"]);
    expect(refused({ PROXY_TIMEOUT: "2m" })).toEqual(['PROXY_TIMEOUT: must be at most 1m, got "2m"']);
  });

  test("PROXY_CONNECT=1 is a way to authenticate connections: no JWT_SECRET needed", () => {
    const errors = (env: Record<string, string>): string[] => {
      try {
        loadGatewayConfig(env);
        return [];
      } catch (err) {
        if (err instanceof ConfigErrors) return err.errors.map((e) => e.variable);
        throw err;
      }
    };
    expect(errors({})).toEqual(["JWT_SECRET"]);
    expect(errors({ PROXY_CONNECT: "1" })).toEqual([]);
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
