// The launcher's pure decisions (scripts/dev/*): what its children are told about logs and the demo page, and its ready line.
import { describe, expect, test } from "bun:test";
import { ConfigErrors } from "@rt/runtime";
import { readDevConfig, serviceLogEnv } from "../../scripts/dev/config.ts";
import { readyLine } from "../../scripts/dev/launcher.ts";
import { withColorReset } from "../../scripts/dev/output.ts";

function configErrors(env: Record<string, string>): string[] {
  try {
    readDevConfig(env, true);
  } catch (err) {
    if (err instanceof ConfigErrors) return err.errors.map((e) => e.message);
    throw err;
  }
  return [];
}

describe("the services' log format: decided by the launcher's own stdout (theirs is a pipe to it)", () => {
  test.each([
    [{}, true, { LOG_LEVEL: "info", LOG_PRETTY: "1", FORCE_COLOR: "1" }],
    [{}, false, { LOG_LEVEL: "info", LOG_PRETTY: "0" }],
    [{ LOG_PRETTY: "0" }, true, { LOG_LEVEL: "info", LOG_PRETTY: "0" }],
    [{ LOG_PRETTY: "1" }, false, { LOG_LEVEL: "info", LOG_PRETTY: "1" }], // pretty into a pipe or a file: no colours
    [{ NO_COLOR: "1" }, true, { LOG_LEVEL: "info", LOG_PRETTY: "1" }],
    [{ FORCE_COLOR: "0" }, true, { LOG_LEVEL: "info", LOG_PRETTY: "1" }], // the caller's FORCE_COLOR is passed on as it is
    [{ FORCE_COLOR: "1" }, true, { LOG_LEVEL: "info", LOG_PRETTY: "1" }],
    [{ TERM: "dumb" }, true, { LOG_LEVEL: "info", LOG_PRETTY: "1" }],
    [{ LOG_LEVEL: "debug" }, false, { LOG_LEVEL: "debug", LOG_PRETTY: "0" }],
  ] as const)("%o, launcher's stdout a terminal: %p -> %o", (env, isTTY, expected) => {
    expect(serviceLogEnv(readDevConfig(env, isTTY), env)).toEqual(expected);
  });

  test("a bad LOG_PRETTY or DEMO_PAGE stops the launcher itself, named with the other bad variables", () => {
    expect(configErrors({ LOG_PRETTY: "maybe", DEMO_PAGE: "yes please", GATEWAYS: "two" })).toEqual([
      `LOG_PRETTY: must be 1 or 0, got "maybe"`,
      `GATEWAYS: must be a whole number, got "two"`,
      `DEMO_PAGE: must be 1 or 0, got "yes please"`,
    ]);
  });
});

describe("the demo page", () => {
  test.each([
    [{}, true],
    [{ DEMO_PAGE: "1" }, true],
    [{ DEMO_PAGE: "0" }, false],
    [{ DEMO_PAGE: "off" }, false],
  ] as const)("%o -> on: %p", (env, on) => {
    expect(readDevConfig(env).demoPage).toBe(on);
  });

  test("the ready line keeps its start and ends with the demo page's URL, on GATEWAY_PORT", () => {
    const cfg = readDevConfig({ GATEWAY_PORT: "9000", NOTIFIER_PORT: "9001" });
    expect(readyLine(cfg, "nats://127.0.0.1:4333")).toBe(
      "ready: gateway ws://localhost:9000 (1 process), notifier http://localhost:9001, nats nats://127.0.0.1:4333, demo page http://localhost:9000/",
    );
    expect(readyLine({ ...cfg, gateways: 3 }, "nats://u:pw@h:4222")).toBe(
      "ready: gateway ws://localhost:9000 (3 processes), notifier http://localhost:9001, nats nats://u:***@h:4222, demo page http://localhost:9000/",
    );
  });

  test("with DEMO_PAGE=0 the ready line is as it was, without a page", () => {
    const cfg = readDevConfig({ DEMO_PAGE: "0" });
    expect(readyLine(cfg, "nats://127.0.0.1:4333")).toBe("ready: gateway ws://localhost:8080 (1 process), notifier http://localhost:8081, nats nats://127.0.0.1:4333");
  });
});

describe("child lines", () => {
  test("a line that sets colours ends with a reset, so none leaks into the next line's prefix; other lines are left alone", () => {
    expect(withColorReset("plain")).toBe("plain");
    expect(withColorReset("\x1b[32mINFO\x1b[39m: hi")).toBe("\x1b[32mINFO\x1b[39m: hi\x1b[0m");
    expect(withColorReset("\x1b[31mred to the end")).toBe("\x1b[31mred to the end\x1b[0m");
    expect(withColorReset("done\x1b[0m")).toBe("done\x1b[0m");
  });
});
