// `bun run dev` (scripts/dev.ts) against the real services and a real nats-server: what the README's
// quick start promises (one ready line, a demo token, the backend's URL, the state folder's files), and
// that its state stays apart from a developer's (each launcher here gets a DEV_STATE_DIR of its own).
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { connect, PermissionViolationError } from "@nats-io/transport-node";
import { freePort, portOpen, ROOT, signToken, TEST_NATS_PASSWORDS, TestNats, TestSocket, waitFor } from "@rt/testkit";
import { pidsListeningOn } from "../../scripts/dev/ready.ts";
import { DEFAULT_DEV_STATE_DIR } from "../../scripts/lib/dev-state.ts";
import { childrenOf, commandOf, DevRun, environOf, isRunning, processesMentioning, rmStateDir, SCRIPT, testStateDir } from "./dev-run.ts";

/** Groups: gateway port, gateway processes, notifier port, NATS URL, demo page URL (absent with DEMO_PAGE=0). */
const READY_LINE = /^ready: gateway ws:\/\/localhost:(\d+) \((\d+) process(?:es)?\), notifier http:\/\/localhost:(\d+), nats (\S+?)(?:, demo page (http:\/\/localhost:\d+\/))?$/;
const DEMO_TOKEN = /^dev\s+\| demo token \(user "demo", valid 24 h\): (\S+)$/;
const CHILD_LINE = /^(gateway-\d+|notifier|metrics|nats)\s+\| /;
const SECRET = "launcher-test-secret-0123456789-abcdefghijkl";
/** The URL a backend connects with, printed before the ready line when the launcher starts its own nats-server. */
const BACKEND_LINE = /^dev\s+\| backend (nats:\/\/backend:\S+@127\.0\.0\.1:\d+)$/;
const ROLES = ["gateway", "notifier", "metrics", "backend", "admin"] as const;

/** The passwords a launcher keeps in its state folder for its nats-server's users, if it made them yet. */
function devPasswords(dev: DevRun): Record<string, string> | undefined {
  const file = dev.stateFile("nats-passwords.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>) : undefined;
}

/** The NATS credentials each service was started with (and any users' passwords it should not have). */
function natsVars(dev: DevRun): Record<string, Record<string, string | undefined>> {
  const vars: Record<string, Record<string, string | undefined>> = {};
  for (const [name, pid] of dev.childPids) {
    if (name === "nats") continue;
    const env = environOf(pid);
    vars[name] = { NATS_USER: env.NATS_USER, NATS_PASSWORD: env.NATS_PASSWORD };
    for (const k of Object.keys(env)) if (k === "NATS_TOKEN" || k === "NATS_CREDS" || /^NATS_[A-Z]+_PASSWORD$/.test(k)) vars[name][k] = env[k];
  }
  return vars;
}

/** Each file of `dir` with its size, time and digest; undefined when there is no such folder. */
function snapshot(dir: string): Record<string, string> | undefined {
  if (!existsSync(dir)) return undefined;
  return Object.fromEntries(readdirSync(dir).sort().map((name) => {
    const st = statSync(join(dir, name));
    return [name, st.isFile() ? `${st.size} ${st.mtimeMs} ${createHash("sha256").update(readFileSync(join(dir, name))).digest("hex")}` : "folder"];
  }));
}

/** A command of the README (`bun run api …`, `bun run notify …`, `bun run token …`) as a person runs it next to `dev`: no NATS or notifier settings of their own. */
async function documented(dev: DevRun, notifierPort: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^(NATS_|NOTIFIER_|JWT_SECRET$|DEV_STATE_DIR$)/.test(k)) env[k] = v;
  const p = Bun.spawn([process.execPath, "run", ...args], { cwd: ROOT, env: { ...env, DEV_STATE_DIR: dev.stateDir, NOTIFIER_PORT: notifierPort }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out: out.trim(), err };
}

/** Two different free ports for the gateway and the notifier. */
async function twoPorts(): Promise<{ GATEWAY_PORT: string; NOTIFIER_PORT: string }> {
  const a = await freePort();
  let b = await freePort();
  while (b === a) b = await freePort();
  return { GATEWAY_PORT: String(a), NOTIFIER_PORT: String(b) };
}

async function status(url: string): Promise<number | "refused"> {
  try {
    const r = await fetch(url, { headers: { connection: "close" } });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return "refused";
  }
}

/** What each service was started with, of the variables the launcher sets for logs and the demo page. */
function serviceVars(dev: DevRun): Record<string, Record<string, string | undefined>> {
  const vars: Record<string, Record<string, string | undefined>> = {};
  for (const [name, pid] of dev.childPids) {
    if (name === "nats") continue;
    const env = environOf(pid);
    vars[name] = { LOG_PRETTY: env.LOG_PRETTY, FORCE_COLOR: env.FORCE_COLOR, DEMO_PAGE: env.DEMO_PAGE };
  }
  return vars;
}

/** The output lines of the services (gateways, notifier, metrics), without their prefix. */
function serviceLines(dev: DevRun): string[] {
  return dev.lines.filter((l) => /^(gateway-\d+|notifier|metrics)\s+\| /.test(l)).map((l) => l.slice(l.indexOf(" | ") + 3));
}

/** Asserts that the launcher left nothing behind: no reported child, no process using its store, no store. */
function expectNothingLeft(dev: DevRun, launcherPids: number[]): void {
  const pids = [...dev.childPids.values(), ...launcherPids];
  expect(pids.filter(isRunning)).toEqual([]);
  const store = dev.storeDir;
  if (store !== undefined) {
    expect(processesMentioning(store)).toEqual([]);
    expect(existsSync(store)).toBe(false);
  }
}

describe("bun run dev", () => {
  test("starts nats, gateway, notifier and metrics; one ready line; the demo token works end to end; SIGTERM stops everything with exit 0", async () => {
    const ports = await twoPorts();
    await using dev = DevRun.start(ports);
    const ready = await dev.waitForLine(READY_LINE);
    expect(ready[1]).toBe(ports.GATEWAY_PORT);
    expect(ready[2]).toBe("1");
    expect(ready[3]).toBe(ports.NOTIFIER_PORT);
    expect(ready[4]).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    // The demo page, which the gateways serve with DEMO_PAGE=1 (on by default).
    expect(ready[5]).toBe(`http://localhost:${ports.GATEWAY_PORT}/`);
    // Exactly one line of the launcher's own (not a child's) mentions "ready".
    expect(dev.ownLines.filter((l) => !CHILD_LINE.test(l) && /ready/.test(l))).toEqual([ready[0]]);

    const pids = dev.childPids;
    expect([...pids.keys()].sort()).toEqual(["gateway-1", "metrics", "nats", "notifier"]);
    for (const pid of pids.values()) expect(isRunning(pid)).toBe(true);
    const launcherPids = childrenOf(dev.proc.pid);
    expect(launcherPids.length).toBe(1);
    const store = dev.storeDir;
    expect(store).toBeDefined();
    expect(existsSync(store!)).toBe(true);
    // Each child's output is streamed with its name in front.
    expect(dev.lines.some((l) => l.startsWith("gateway-1 | "))).toBe(true);
    expect(dev.lines.some((l) => l.startsWith("notifier  | "))).toBe(true);
    // Into a pipe (this test's), the services log JSON, one record a line; the gateways are told to serve the demo page.
    expect(serviceVars(dev)).toEqual({
      "gateway-1": { LOG_PRETTY: "0", FORCE_COLOR: undefined, DEMO_PAGE: "1" },
      notifier: { LOG_PRETTY: "0", FORCE_COLOR: undefined, DEMO_PAGE: undefined },
      metrics: { LOG_PRETTY: "0", FORCE_COLOR: undefined, DEMO_PAGE: undefined },
    });
    const logged = serviceLines(dev);
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) expect(JSON.parse(line)).toHaveProperty("level");

    // NATS: the shipped users and permissions (deploy/nats/auth.conf), passwords made up once and kept
    // (mode 600); each service connects as its own user and gets no other user's password.
    const passwords = devPasswords(dev)!;
    expect(Object.keys(passwords).sort()).toEqual([...ROLES].sort());
    for (const role of ROLES) expect(passwords[role]).toMatch(/^[A-Za-z][A-Za-z0-9]{15,}$/);
    expect(new Set(Object.values(passwords)).size).toBe(ROLES.length);
    expect(statSync(dev.stateFile("nats-passwords.json")).mode & 0o777).toBe(0o600);
    const natsArgs = commandOf(pids.get("nats")!);
    expect(natsArgs.slice(1, 3)).toEqual(["-c", join(ROOT, "deploy/nats/auth.conf")]);
    expect(environOf(pids.get("nats")!)).toMatchObject(Object.fromEntries(ROLES.map((r) => [`NATS_${r.toUpperCase()}_PASSWORD`, passwords[r]])));
    expect(natsVars(dev)).toEqual({
      "gateway-1": { NATS_USER: "gateway", NATS_PASSWORD: passwords.gateway },
      notifier: { NATS_USER: "notifier", NATS_PASSWORD: passwords.notifier },
      metrics: { NATS_USER: "metrics", NATS_PASSWORD: passwords.metrics },
    });
    // The backend user's URL, before the ready line, also written as variables (backend.env) for a shell or `bun --env-file`.
    const backendLine = await dev.waitForLine(BACKEND_LINE);
    expect(dev.lines.indexOf(backendLine.input)).toBeLessThan(dev.lines.indexOf(ready[0]));
    const backend = new URL(backendLine[1]!);
    expect([backend.username, backend.password, `nats://${backend.host}`]).toEqual(["backend", passwords.backend!, ready[4]!]);
    expect(readFileSync(dev.stateFile("backend.env"), "utf8")).toBe(`NATS_URL=${ready[4]}\nNATS_USER=backend\nNATS_PASSWORD=${passwords.backend}\n`);
    expect(statSync(dev.stateFile("backend.env")).mode & 0o777).toBe(0o600);

    const gw = `127.0.0.1:${ports.GATEWAY_PORT}`;
    const notifier = `http://127.0.0.1:${ports.NOTIFIER_PORT}`;
    expect(await status(`http://${gw}/readyz`)).toBe(200);
    expect(await status(`${notifier}/readyz`)).toBe(200);

    const token = (await dev.waitForLine(DEMO_TOKEN))[1]!;
    expect(dev.output).toContain(`ws://localhost:${ports.GATEWAY_PORT}/notifications?token=${token}`);
    // The made-up secret is kept for later runs and for `bun run token`; the running server's URL for `bun run notify --nats`.
    expect(dev.output).toContain(dev.stateFile("jwt-secret"));
    expect(readFileSync(dev.stateFile("nats-url"), "utf8").trim()).toBe(ready[4]!);
    expect(dev.output).toContain(`curl -i -X POST http://localhost:${ports.NOTIFIER_PORT}/notifications`);
    {
      await using ws = await TestSocket.open(`ws://${gw}/notifications?token=${token}`);
      const res = await fetch(`${notifier}/notifications`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user_id: "demo", body: "hello from the launcher test" }),
      });
      expect(res.status).toBe(202);
      const sent = (await res.json()) as { id: string; seq: number };
      // The frame may arrive before the 202 does: look through everything received.
      const mine = () => ws.messages.map((m) => JSON.parse(m) as Record<string, unknown>).find((f) => f.id === sent.id);
      for (let n = 1; mine() === undefined; n++) {
        await ws.waitForMessages(n, 10_000).catch((err: unknown) => {
          throw new Error(`${String(err)}\n--- what the launcher and its children printed ---\n${dev.output.slice(-6000)}`);
        });
      }
      const frame = mine()!;
      expect(frame).toMatchObject({ id: sent.id, seq: sent.seq, user_id: "demo", body: "hello from the launcher test" });
      expect(typeof frame.created_at).toBe("string");
    }

    // A backend with that URL's credentials may send notifications over NATS, and nothing else;
    // without credentials nothing at all.
    {
      const servers = backend.host;
      await expect(connect({ servers, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
      const nc = await connect({ servers, user: backend.username, pass: backend.password, maxReconnectAttempts: 0 });
      try {
        const errors: unknown[] = [];
        void (async () => {
          for await (const s of nc.status()) if (s.type === "error") errors.push(s.error);
        })();
        const reply = await nc.request("notifier.send", JSON.stringify({ user_id: "demo", body: "from a backend" }), { timeout: 5000 });
        expect(reply.json()).toHaveProperty("id");
        nc.publish("chat.room.lobby", "not a backend's to send");
        await nc.flush();
        // The server's -ERR came before the answer to the flush; the status iterator hands it on a moment later.
        await waitFor("the permissions error", () => errors.length > 0, 5000, 10);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toBeInstanceOf(PermissionViolationError);
        expect(String(errors[0])).toContain("chat.room.lobby");
      } finally {
        await nc.close();
      }
    }

    const started = Date.now();
    expect(await dev.stop("SIGTERM", 15_000)).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expectNothingLeft(dev, launcherPids);
    // The files that name the running server go with it; the kept ones stay.
    expect(readdirSync(dev.stateDir).sort()).toEqual(["jwt-secret", "nats-passwords.json"]);
    expect(await status(`http://${gw}/readyz`)).toBe("refused");
    expect(await status(`${notifier}/readyz`)).toBe("refused");
  });

  test("right after the ready line every documented command works; a developer's .tmp/dev is never touched (the run keeps its own folder)", async () => {
    const developers = snapshot(DEFAULT_DEV_STATE_DIR);
    const ports = await twoPorts();
    await using dev = DevRun.start(ports);
    const ready = await dev.waitForLine(READY_LINE);
    const [publish, presence, notify, notifyNats, token] = await Promise.all([
      documented(dev, ports.NOTIFIER_PORT, ["api", "publish", '{"channel":"chat:lobby","data":{"text":"right after ready"}}']),
      documented(dev, ports.NOTIFIER_PORT, ["api", "presence_stats", '{"channel":"chat:lobby"}', "--nats"]),
      documented(dev, ports.NOTIFIER_PORT, ["notify", "--user", "demo", "--body", "right after ready"]),
      documented(dev, ports.NOTIFIER_PORT, ["notify", "--nats", "--user", "demo", "--body", "over NATS right after ready"]),
      documented(dev, ports.NOTIFIER_PORT, ["token", "--user", "demo"]),
    ]);
    const failed = (r: { code: number }) => (r.code === 0 ? "" : `\n--- the launcher's output ---\n${dev.output.slice(-4000)}`);
    expect({ ...publish, log: failed(publish) }).toMatchObject({ code: 0, log: "" });
    expect(JSON.parse(publish.out)).toEqual({ result: { offset: 1, epoch: expect.any(String) } });
    expect({ ...presence, log: failed(presence) }).toMatchObject({ code: 0, log: "" });
    expect(JSON.parse(presence.out)).toEqual({ result: { num_clients: 0, num_users: 0 } });
    expect({ ...notify, log: failed(notify) }).toMatchObject({ code: 0, log: "" });
    expect({ ...notifyNats, log: failed(notifyNats) }).toMatchObject({ code: 0, log: "" });
    // Both went into demo's inbox, one after the other (they run at once: either may be stored first).
    const seqs = [JSON.parse(notify.out).seq, JSON.parse(notifyNats.out).seq].sort((a, b) => a - b);
    expect(seqs[1]).toBe(seqs[0] + 1);
    expect(token.code).toBe(0);
    expect(token.out).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    // The run's files are in its own folder; the default one is as it was (a developer's dev run there keeps working).
    expect(readFileSync(dev.stateFile("nats-url"), "utf8").trim()).toBe(ready[4]!);
    expect(readdirSync(dev.stateDir).sort()).toEqual(["backend.env", "jwt-secret", "nats-passwords.json", "nats-url"]);
    expect(snapshot(DEFAULT_DEV_STATE_DIR)).toEqual(developers);
    expect(await dev.stop("SIGTERM", 15_000)).toBe(0);
    expect(snapshot(DEFAULT_DEV_STATE_DIR)).toEqual(developers);
  });

  test("GATEWAYS=2 starts two gateway processes on the one port; JWT_SECRET is passed through and the demo token is signed with it", async () => {
    const ports = await twoPorts();
    // A caller's NATS credentials (and users' passwords) mean nothing to the launcher's own nats-server: ignored, not passed on.
    const stray = { NATS_TOKEN: "stray-token", NATS_GATEWAY_PASSWORD: "pStrayGatewayPassword0" };
    await using dev = DevRun.start({ ...ports, GATEWAYS: "2", JWT_SECRET: SECRET, ...stray });
    const ready = await dev.waitForLine(READY_LINE);
    expect(ready[2]).toBe("2");
    const pids = dev.childPids;
    expect([...pids.keys()].sort()).toEqual(["gateway-1", "gateway-2", "metrics", "nats", "notifier"]);
    expect(dev.output).toMatch(/^dev\s+\| NATS_TOKEN ignored: each service connects to this nats-server as its own user \(set NATS_URL to use yours\)$/m);
    const passwords = devPasswords(dev)!;
    expect(passwords.gateway).not.toBe(stray.NATS_GATEWAY_PASSWORD);
    expect(natsVars(dev)).toEqual({
      "gateway-1": { NATS_USER: "gateway", NATS_PASSWORD: passwords.gateway },
      "gateway-2": { NATS_USER: "gateway", NATS_PASSWORD: passwords.gateway },
      notifier: { NATS_USER: "notifier", NATS_PASSWORD: passwords.notifier },
      metrics: { NATS_USER: "metrics", NATS_PASSWORD: passwords.metrics },
    });
    const gateways = [pids.get("gateway-1")!, pids.get("gateway-2")!];
    expect(new Set(gateways).size).toBe(2);
    // Sharing the port is the launcher's explicit choice (a gateway alone refuses a taken port).
    expect(gateways.map((pid) => environOf(pid).REUSE_PORT)).toEqual(["1", "1"]);
    expect([pids.get("notifier")!, pids.get("metrics")!].map((pid) => environOf(pid).REUSE_PORT)).toEqual([undefined, undefined]);
    for (const pid of gateways) expect(isRunning(pid)).toBe(true);
    expect([...(pidsListeningOn(gateways, Number(ports.GATEWAY_PORT)) ?? [])].sort()).toEqual([...gateways].sort());
    const demo = (await dev.waitForLine(DEMO_TOKEN))[1]!;
    expect(dev.output).not.toContain("JWT_SECRET is not set");
    {
      await using ws = await TestSocket.open(`ws://127.0.0.1:${ports.GATEWAY_PORT}/notifications?token=${demo}`);
      expect(ws.ws.readyState).toBe(WebSocket.OPEN);
    }

    // Tokens signed with the caller's secret are accepted, whichever gateway takes the connection.
    const token = await signToken("someone", { secret: SECRET });
    for (let i = 0; i < 4; i++) {
      await using ws = await TestSocket.open(`ws://127.0.0.1:${ports.GATEWAY_PORT}/notifications?token=${token}`);
      expect(ws.ws.readyState).toBe(WebSocket.OPEN);
    }

    const launcherPids = childrenOf(dev.proc.pid);
    expect(await dev.stop("SIGTERM", 15_000)).toBe(0);
    expectNothingLeft(dev, launcherPids);
  });

  test("SIGINT stops everything too, with exit 0; the NATS passwords and JWT secret of an earlier run in the same folder are kept", async () => {
    const stateDir = testStateDir();
    try {
      const kept: Record<string, string> = {};
      for (const round of [1, 2]) {
        await using dev = DevRun.start({ ...(await twoPorts()), DEV_STATE_DIR: stateDir });
        await dev.waitForLine(READY_LINE);
        const passwords = devPasswords(dev)!;
        expect(new URL((await dev.waitForLine(BACKEND_LINE))[1]!).password).toBe(passwords.backend!);
        const now = { passwords: JSON.stringify(passwords), secret: readFileSync(dev.stateFile("jwt-secret"), "utf8") };
        if (round === 1) Object.assign(kept, now);
        else expect(now).toEqual(kept as typeof now);
        const launcherPids = childrenOf(dev.proc.pid);
        expect(await dev.stop("SIGINT", 15_000)).toBe(0);
        expectNothingLeft(dev, launcherPids);
      }
    } finally {
      rmStateDir(stateDir);
    }
  });

  test("LOG_PRETTY=1 and DEMO_PAGE=0: the services log pretty (no colours into a pipe), each line prefixed; no demo page", async () => {
    const ports = await twoPorts();
    await using dev = DevRun.start({ ...ports, LOG_PRETTY: "1", DEMO_PAGE: "0" });
    const ready = await dev.waitForLine(READY_LINE);
    expect(ready[5]).toBeUndefined();
    expect(ready[0]).not.toContain("demo page");
    expect(serviceVars(dev)).toEqual({
      "gateway-1": { LOG_PRETTY: "1", FORCE_COLOR: undefined, DEMO_PAGE: "0" },
      notifier: { LOG_PRETTY: "1", FORCE_COLOR: undefined, DEMO_PAGE: undefined },
      metrics: { LOG_PRETTY: "1", FORCE_COLOR: undefined, DEMO_PAGE: undefined },
    });
    expect(dev.output).toMatch(/^gateway-1 \| \[\d\d:\d\d:\d\d\.\d{3}\] INFO: gateway listening \{"port":\d+/m);
    expect(dev.output).not.toContain("\x1b[");
    expect(serviceLines(dev).filter((l) => l.startsWith("{"))).toEqual([]);
    expect(await dev.stop("SIGTERM", 15_000)).toBe(0);
    expectNothingLeft(dev, []);
  });

  test.skipIf(SCRIPT === null)("on a terminal: the services log pretty and coloured, every line prefixed, colours reset at each line's end", async () => {
    const ports = await twoPorts();
    await using dev = DevRun.startOnTerminal(ports);
    const ready = await dev.waitForLine(READY_LINE);
    expect(ready[5]).toBe(`http://localhost:${ports.GATEWAY_PORT}/`);
    expect(serviceVars(dev)["gateway-1"]).toEqual({ LOG_PRETTY: "1", FORCE_COLOR: "1", DEMO_PAGE: "1" });
    // pino-pretty's colours (green INFO), behind the child's name.
    expect(dev.lines.some((l) => /^gateway-1 \| \[[\d:.]+\] \x1b\[32mINFO\x1b\[39m: /.test(l))).toBe(true);
    // Every line is the launcher's: prefixed, or the ready line (but for `bun run`'s own, coloured, "$ bun run scripts/dev.ts").
    for (const line of dev.lines.filter((l) => !l.replace(/\x1b\[[\d;]*m/g, "").startsWith("$ bun run "))) {
      expect(line).toMatch(/^(\S+\s+\| |ready: )/);
      if (line.includes("\x1b[")) expect(line).toEndWith("\x1b[0m");
    }
    const launcherPids = childrenOf(dev.runPid!);
    expect(await dev.stop("SIGTERM", 15_000)).toBe(0);
    expectNothingLeft(dev, launcherPids);
  });

  test("with NATS_URL set it starts no nats-server, passes the caller's NATS_USER/NATS_PASSWORD through, and leaves that server running", async () => {
    await using nats = await TestNats.start();
    const ports = await twoPorts();
    // NATS_SERVER_BIN pointing nowhere proves that no nats-server is needed.
    const login = { NATS_USER: "admin", NATS_PASSWORD: TEST_NATS_PASSWORDS.admin };
    await using dev = DevRun.start({ ...ports, NATS_URL: nats.url, NATS_SERVER_BIN: "/nonexistent/nats-server", ...login });
    const ready = await dev.waitForLine(READY_LINE);
    expect(ready[4]).toBe(nats.url);
    expect(dev.childPids.has("nats")).toBe(false);
    expect(dev.storeDir).toBeUndefined();
    expect(natsVars(dev)).toEqual({ "gateway-1": login, notifier: login, metrics: login });
    // Its users are not the launcher's to tell: no backend URL, no "ignored" line.
    expect(dev.lines.filter((l) => BACKEND_LINE.test(l))).toEqual([]);
    expect(dev.output).not.toContain("ignored");
    expect(await dev.stop("SIGTERM", 15_000)).toBe(0);
    expectNothingLeft(dev, []);
    expect(await portOpen(nats.port)).toBe(true);
  });

  test("without a nats-server and without NATS_URL: one line saying how to get one, exit 1", async () => {
    // NATS_SERVER_BIN is honoured before PATH and /usr/sbin, so a missing binary can be simulated.
    await using dev = DevRun.start({ ...(await twoPorts()), NATS_SERVER_BIN: "/nonexistent/nats-server" });
    expect(await dev.exited(10_000)).toBe(1);
    expect(dev.ownLines.length).toBe(1);
    expect(dev.ownLines[0]).toMatch(/^nats-server not found: install it \(apt-get install nats-server.*\) or set NATS_URL/);
  });

  test("a bad variable: one line naming it, exit 2", async () => {
    await using dev = DevRun.start({ ...(await twoPorts()), GATEWAYS: "two" });
    expect(await dev.exited(10_000)).toBe(2);
    expect(dev.ownLines).toEqual([`dev: invalid configuration: GATEWAYS: must be a whole number, got "two"`]);
  });

  test.each([
    ["LOG_LEVEL", { LOG_LEVEL: "loud" }],
    ["NATS_URL", { NATS_URL: "localhost:4222" }],
    ["PORT", { PORT: "abc" }],
    ["LOG_PRETTY", { LOG_PRETTY: "pretty" }],
    ["DEMO_PAGE", { DEMO_PAGE: "yes please" }],
    // With NATS_URL the caller's credentials go to every service: a half pair stops the launcher, as it would each service.
    ["NATS_PASSWORD", { NATS_URL: "nats://127.0.0.1:4222", NATS_USER: "backend" }],
  ])("%s is checked by the launcher itself: exit 2 at once, before any child starts", async (variable, env) => {
    await using dev = DevRun.start({ ...(await twoPorts()), ...env });
    expect(await dev.exited(10_000)).toBe(2);
    expect(dev.ownLines).toHaveLength(1);
    expect(dev.ownLines[0]).toStartWith(`dev: invalid configuration: ${variable}: `);
    expect(dev.childPids.size).toBe(0);
  });

  test("a child that exits early (a gateway refusing a short JWT_SECRET, exit 2) stops everything with exit 1 and a line naming it", async () => {
    await using dev = DevRun.start({ ...(await twoPorts()), JWT_SECRET: "too-short" });
    expect(await dev.exited(20_000)).toBe(1);
    expect(dev.output).toMatch(/^dev\s+\| gateway-1 \(pid \d+\) exited unexpectedly with code 2; stopping everything$/m);
    expect(dev.output).not.toMatch(/^ready/m);
    expect(dev.childPids.has("nats")).toBe(true);
    expectNothingLeft(dev, []);
  });

  test("a gateway port already taken: a clear error before anything starts, exit 1", async () => {
    using taken = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("someone else") });
    const ports = await twoPorts();
    await using dev = DevRun.start({ ...ports, GATEWAY_PORT: String(taken.port) });
    expect(await dev.exited(10_000)).toBe(1);
    expect(dev.output).toContain(`port ${taken.port} (GATEWAY_PORT) is already in use`);
    expect(dev.childPids.size).toBe(0);
  });

  test("nothing answers within DEV_READY_TIMEOUT_MS (NATS unreachable): a clear error, everything stopped, exit 1", async () => {
    const deadPort = await freePort();
    await using dev = DevRun.start({ ...(await twoPorts()), NATS_URL: `nats://127.0.0.1:${deadPort}`, DEV_READY_TIMEOUT_MS: "3000" });
    expect(await dev.exited(20_000)).toBe(1);
    expect(dev.output).toMatch(/^dev\s+\| (timed out after 3 s; still waiting for .+|\S+ \(pid \d+\) exited unexpectedly with .+)$/m);
    expect(dev.output).not.toMatch(/^ready/m);
    expectNothingLeft(dev, []);
  });
});
