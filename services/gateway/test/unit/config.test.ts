// The gateway's configuration in-process: NATS credentials and the demo page's notifier.
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
