// The launcher's pure decisions (scripts/dev/*): what its children are told about logs and the demo page, and its ready line.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigErrors } from "@rt/runtime";
import { readDevConfig, serviceLogEnv } from "../../scripts/dev/config.ts";
import { backendUrl, readyLine, serviceEnv } from "../../scripts/dev/launcher.ts";
import { showNatsLine } from "../../scripts/dev/nats.ts";
import { withColorReset } from "../../scripts/dev/output.ts";
import { DEFAULT_DEV_STATE_DIR, DevState, devStateDir } from "../../scripts/lib/dev-state.ts";
import { natsServerPasswordEnv, newNatsPassword, urlWithCredentials, usableNatsPassword, type NatsPasswords } from "../../scripts/lib/nats-users.ts";

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

describe("NATS credentials", () => {
  test("with NATS_URL they are the services' to use, so the launcher checks them as a service would", () => {
    expect(configErrors({ NATS_URL: "nats://h:4222", NATS_USER: "me" })).toEqual(["NATS_PASSWORD: is required with NATS_USER"]);
    expect(configErrors({ NATS_URL: "nats://h:4222", NATS_USER: "me", NATS_PASSWORD: "pw" })).toEqual([]);
  });

  test("without NATS_URL they are ignored (the launcher's nats-server has its own users), so not checked", () => {
    expect(configErrors({ NATS_USER: "me", NATS_TOKEN: "t" })).toEqual([]);
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

describe("NATS users (deploy/nats/auth.conf)", () => {
  const passwords: NatsPasswords = { gateway: "pGateway0123456789", notifier: "pNotifier012345678", metrics: "pMetrics0123456789", backend: "pBackend0123456789", admin: "pAdmin012345678901" };

  test("with the launcher's nats-server each service gets its own user and password, whatever the caller set; nobody gets the users' passwords", () => {
    const caller = { HOME: "/home/me", NATS_USER: "me", NATS_PASSWORD: "mine", NATS_TOKEN: "t", NATS_CREDS: "/x.creds", NATS_ADMIN_PASSWORD: "pAdmin", GATEWAYS: "2", JWT_SECRET: "s" };
    expect(serviceEnv(caller, "gateway", passwords)).toEqual({ HOME: "/home/me", NATS_USER: "gateway", NATS_PASSWORD: passwords.gateway });
    expect(serviceEnv(caller, "metrics", passwords)).toEqual({ HOME: "/home/me", NATS_USER: "metrics", NATS_PASSWORD: passwords.metrics });
  });

  test("MAX_MESSAGE_BYTES reaches the gateways and the notifier alike (what the API stores, the gateways relay)", () => {
    for (const role of ["gateway", "notifier"] as const) expect(serviceEnv({ MAX_MESSAGE_BYTES: "4096" }, role, passwords).MAX_MESSAGE_BYTES).toBe("4096");
  });

  test("with NATS_URL (no passwords of the launcher's) the caller's credentials pass through as they are", () => {
    expect(serviceEnv({ HOME: "/home/me", NATS_USER: "me", NATS_PASSWORD: "mine", NATS_BACKEND_PASSWORD: "pB", PORT: "1" }, "notifier", undefined)).toEqual({ HOME: "/home/me", NATS_USER: "me", NATS_PASSWORD: "mine" });
    expect(serviceEnv({ NATS_CREDS: "/x.creds" }, "gateway", undefined)).toEqual({ NATS_CREDS: "/x.creds" });
  });

  test("nats-server gets every user's password under auth.conf's names", () => {
    expect(natsServerPasswordEnv(passwords)).toEqual({
      NATS_GATEWAY_PASSWORD: passwords.gateway,
      NATS_NOTIFIER_PASSWORD: passwords.notifier,
      NATS_METRICS_PASSWORD: passwords.metrics,
      NATS_BACKEND_PASSWORD: passwords.backend,
      NATS_ADMIN_PASSWORD: passwords.admin,
    });
  });

  test("the backend's URL: the server's with user and password in it", () => {
    expect(backendUrl("nats://127.0.0.1:4333", passwords)).toBe(`nats://backend:${passwords.backend}@127.0.0.1:4333`);
    expect(urlWithCredentials("nats://old:pw@h:4222", "backend", "p a/b")).toBe("nats://backend:p%20a%2Fb@h:4222");
  });

  test("made-up passwords are ones nats-server reads back as strings from its environment (not numbers, bools, or unparsable)", () => {
    for (let i = 0; i < 100; i++) expect(usableNatsPassword(newNatsPassword())).toBe(true);
    for (const bad of ["1234567890123456789", "3e5abcdef0123456789", "true", "pshort", "p-with-dashes-0123", "p with space 0123456"]) expect(usableNatsPassword(bad)).toBe(false);
  });

  test("kept across runs in nats-passwords.json (mode 600); a missing or unusable one is made anew; the backend's for the tools", () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-dev-state-"));
    const state = new DevState(dir);
    try {
      expect(state.backendPassword()).toBeUndefined();
      const first = state.natsPasswords();
      expect(first.made).toEqual(["gateway", "notifier", "metrics", "backend", "admin"]);
      expect(statSync(first.file).mode & 0o777).toBe(0o600);
      const again = state.natsPasswords();
      expect(again.made).toEqual([]);
      expect(again.passwords).toEqual(first.passwords);
      writeFileSync(first.file, JSON.stringify({ ...first.passwords, metrics: "1234", admin: undefined }));
      expect(state.backendPassword()).toBe(first.passwords.backend);
      const mended = state.natsPasswords();
      expect(mended.made).toEqual(["metrics", "admin"]);
      expect(mended.passwords.gateway).toBe(first.passwords.gateway);
      expect(usableNatsPassword(mended.passwords.metrics)).toBe(true);
      expect(JSON.parse(readFileSync(first.file, "utf8"))).toEqual(mended.passwords);
      writeFileSync(first.file, "not json");
      expect(state.backendPassword()).toBeUndefined();
      expect(state.natsPasswords().made).toHaveLength(5);
      expect(state.backendPassword()).toMatch(/^p[0-9a-f]{48}$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("nats-server's lines shown without LOG_LEVEL=debug: warnings and errors, a refused config; not the expected plain-password warning", () => {
    expect(showNatsLine("[1] 2026/11/26 06:19:29.431778 [WRN] Plaintext passwords detected, use nkeys or bcrypt")).toBe(false);
    expect(showNatsLine("[1] 2026/11/26 06:19:29.939295 [ERR] 127.0.0.1:37146 - cid:4 - Publish Violation - User \"backend\", Subject \"chat.room.x\"")).toBe(true);
    expect(showNatsLine("nats-server: /repo/deploy/nats/auth.conf:69:22: interface conversion: interface {} is int64, not string")).toBe(true);
    expect(showNatsLine("[1] 2026/11/26 06:19:29.432373 [INF] Starting JetStream")).toBe(false);
  });
});

describe("the state folder (what the launcher leaves for the other commands)", () => {
  test("is .tmp/dev at the repository root unless DEV_STATE_DIR names another, which the launcher reads too", () => {
    expect(DEFAULT_DEV_STATE_DIR).toBe(join(import.meta.dir, "../../.tmp/dev"));
    expect(devStateDir({})).toBe(DEFAULT_DEV_STATE_DIR);
    expect(devStateDir({ DEV_STATE_DIR: "" })).toBe(DEFAULT_DEV_STATE_DIR);
    expect(devStateDir({ DEV_STATE_DIR: "/srv/dev-state" })).toBe("/srv/dev-state");
    expect(devStateDir({ DEV_STATE_DIR: "rel/dir" })).toBe(join(process.cwd(), "rel/dir"));
    expect(readDevConfig({ DEV_STATE_DIR: "/srv/dev-state" }).stateDir).toBe("/srv/dev-state");
  });

  test("a run writes nats-url and backend.env (mode 600); stopping removes them only while they still name its server", () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-dev-state-"));
    const state = new DevState(dir);
    try {
      expect(state.natsUrl()).toBeUndefined();
      state.writeRun("nats://127.0.0.1:4333", "pBackend0123456789");
      expect(state.natsUrl()).toBe("nats://127.0.0.1:4333");
      expect(readFileSync(state.file("backendEnv"), "utf8")).toBe("NATS_URL=nats://127.0.0.1:4333\nNATS_USER=backend\nNATS_PASSWORD=pBackend0123456789\n");
      expect(statSync(state.file("backendEnv")).mode & 0o777).toBe(0o600);
      state.clearRun("nats://127.0.0.1:9999"); // another run's: left alone
      expect(state.natsUrl()).toBe("nats://127.0.0.1:4333");
      state.clearRun("nats://127.0.0.1:4333");
      expect(state.natsUrl()).toBeUndefined();
      expect(existsSync(state.file("backendEnv"))).toBe(false);
      state.writeRun("nats://h:4222", undefined); // the caller's own server (NATS_URL): no backend.env
      expect(existsSync(state.file("backendEnv"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the services get neither DEV_STATE_DIR nor a caller's REUSE_PORT (the launcher alone decides who shares a port)", () => {
    expect(serviceEnv({ DEV_STATE_DIR: "/x", REUSE_PORT: "1", KEEP: "me" }, "gateway", undefined)).toEqual({ KEEP: "me" });
  });
});

describe("CHANNELS_FILE: passed through to every gateway and the notifier", () => {
  test("a relative path is read from where bun run dev was started and passed on absolute (each service runs in its own folder), never as given", () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-dev-channels-"));
    try {
      writeFileSync(join(dir, "channels.json"), JSON.stringify({ channel: { namespaces: [{ name: "orders", presence: true }] } }));
      expect(readDevConfig({ CHANNELS_FILE: "channels.json" }, false, dir).channelsFile).toBe(join(dir, "channels.json"));
      expect(readDevConfig({}, false, dir).channelsFile).toBeUndefined();
      expect(serviceEnv({ CHANNELS_FILE: "channels.json", KEEP: "me" }, "gateway", undefined)).toEqual({ KEEP: "me" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a bad file stops the launcher before anything starts, one line per problem, as the services would", () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-dev-channels-"));
    try {
      writeFileSync(join(dir, "bad.json"), JSON.stringify({ channel: { namespaces: [{ name: "orders", presense: true }, { name: "a b" }] } }));
      expect(configErrors({ CHANNELS_FILE: join(dir, "bad.json") })).toEqual([
        'CHANNELS_FILE: namespace "orders": unknown option: presense',
        'CHANNELS_FILE: namespaces[1]: name: must match ^[A-Za-z0-9_.-]{1,64}$, got "a b"',
      ]);
      expect(configErrors({ CHANNELS_FILE: join(dir, "missing.json") })).toEqual([`CHANNELS_FILE: cannot read ${join(dir, "missing.json")}: ENOENT`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
