import { expect, test } from "bun:test";
import { hostname } from "node:os";
import { ConfigError } from "@rt/runtime";
import { loadConfig } from "../src/config.ts";

test("defaults", () => {
  expect(loadConfig({})).toEqual({
    natsUrl: ["nats://127.0.0.1:4222"],
    natsAuth: {},
    intervalMs: 1000,
    hostId: hostname(),
    port: undefined,
    logLevel: "info",
  });
});

test("every variable is read", () => {
  const c = loadConfig({ NATS_URL: "nats://a:1,nats://b:2", INTERVAL_MS: "50", HOST_ID: "用户.host*>", PORT: "9100", LOG_LEVEL: "debug" });
  expect(c).toEqual({ natsUrl: ["nats://a:1", "nats://b:2"], natsAuth: {}, intervalMs: 50, hostId: "用户.host*>", port: 9100, logLevel: "debug" });
});

test.each([
  ["INTERVAL_MS", "49", "49"],
  ["INTERVAL_MS", "1.5", "1.5"],
  ["INTERVAL_MS", "fast", "fast"],
  ["INTERVAL_MS", "2^31", "2147483648"],
  ["PORT", "65536", "65536"],
  ["PORT", "http", "http"],
  ["HOST_ID", "a newline", "a\nb"],
  ["HOST_ID", "254 characters", "x".repeat(254)],
  ["HOST_ID", "a lone surrogate", "\ud800"],
  ["LOG_LEVEL", "loud", "loud"],
  ["NATS_URL", "http://x:1", "http://x:1"],
])("%s=%s is refused, naming the variable", (name, _label, value) => {
  let err: unknown;
  try {
    loadConfig({ [name]: value });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).variable).toBe(name);
  expect((err as ConfigError).message).not.toContain("\n");
});

test("NATS credentials: read once with the rest; a half pair is refused naming the other variable", () => {
  expect(loadConfig({ NATS_USER: "metrics", NATS_PASSWORD: "pw" }).natsAuth).toEqual({ user: "metrics", pass: "pw" });
  let err: unknown;
  try {
    loadConfig({ NATS_PASSWORD: "pw" });
  } catch (e) {
    err = e;
  }
  expect((err as ConfigError).variable).toBe("NATS_USER");
});
