import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Child, describeExit } from "./children.ts";
import { serviceLogEnv, type DevConfig } from "./config.ts";
import { LocalNats } from "./nats.ts";
import type { Output } from "./output.ts";
import { portOpen } from "@rt/runtime";
import { whatIsNotUp } from "./ready.ts";
import { DevState } from "../lib/dev-state.ts";
import { signHs256 } from "../lib/jwt.ts";
import { NATS_CREDENTIAL_VARS, NATS_ROLES, natsServerPasswordEnv, passwordVar, serviceCredentials, urlWithCredentials, type NatsPasswords } from "../lib/nats-users.ts";
import { Aborted, sleepUnlessAborted, untilAborted } from "./wait.ts";

/** How long a service gets between SIGTERM and SIGKILL (the services give themselves 9 s). */
const SERVICE_GRACE_MS = 10_000;
const NATS_GRACE_MS = 5_000;
/** A child that exits this soon after a stop was asked for (a terminal's Ctrl-C reaches the whole group) is not a failure. */
const EXIT_RACE_MS = 50;
const DEMO_USER = "demo";
const DEMO_TOKEN_TTL_S = 24 * 3600;
/**
 * Variables meant for the launcher only, not passed on to the services; nor are the NATS users'
 * passwords (a service gets its own role's only, as NATS_PASSWORD), nor REUSE_PORT (the launcher
 * alone decides that its gateways share a port), nor CHANNELS_FILE as given (the gateways and the
 * notifier get it as an absolute path: each runs in its own folder).
 */
const LAUNCHER_VARS = ["GATEWAYS", "GATEWAY_PORT", "NOTIFIER_PORT", "NATS_SERVER_BIN", "DEV_READY_TIMEOUT_MS", "DEV_STATE_DIR", "PORT", "REUSE_PORT", "JWT_SECRET", "DEMO_PAGE", "CHANNELS_FILE", ...NATS_ROLES.map(passwordVar)];
/** The users and permissions every nats-server of the project runs with, from the repository root. */
const NATS_AUTH_CONF = ["deploy", "nats", "auth.conf"];

/** A service's folder under services/, which is also its NATS user. */
export type ServiceDir = "gateway" | "notifier" | "metrics";

/** Starts nats-server (unless NATS_URL is given) and the services, waits for them, and stops them all. */
export class Launcher {
  private readonly services: Child[] = [];
  private nats: Child | undefined;
  private storeDir: string | undefined;
  /** The NATS URL the services use, once everything is up (written to the state folder's nats-url for `bun run notify --nats`). */
  private natsUrl: string | undefined;
  /** The passwords of the users of the nats-server started here; undefined with NATS_URL (the caller's credentials pass through). */
  private natsPasswords: { passwords: NatsPasswords; file: string } | undefined;
  private readonly state: DevState;
  private readonly ctl = new AbortController();
  private outcome: { code: number } | undefined;
  private shuttingDown = false;

  /** `natsBin`: the nats-server to start; undefined when cfg.natsUrl is set. */
  constructor(private readonly cfg: DevConfig, private readonly natsBin: string | undefined, private readonly root: string, private readonly out: Output) {
    this.state = new DevState(cfg.stateDir);
  }

  /** Runs until a signal or a failure; resolves with the exit code once everything is stopped. */
  async run(): Promise<number> {
    try {
      await this.start();
      await untilAborted(this.ctl.signal);
    } catch (err) {
      if (!(err instanceof Aborted)) this.finish(1, err instanceof Error ? err.message : String(err));
    }
    await this.shutdown();
    return this.outcome?.code ?? 1;
  }

  /** SIGINT / SIGTERM / SIGHUP: stop everything, exit 0. A second one while stopping kills at once. */
  onSignal(signal: NodeJS.Signals): void {
    if (this.shuttingDown) {
      this.out.line("dev", `${signal} again: killing every child now`);
      for (const c of this.children()) c.signal("SIGKILL");
      return;
    }
    this.finish(0, `${signal}: stopping`);
  }

  /** Last resort when the launcher itself dies (process "exit"): no child may outlive it. Synchronous. */
  killAllNow(): void {
    for (const c of this.services) c.signal("SIGTERM");
    this.nats?.signal("SIGKILL");
    if (this.storeDir !== undefined) rmSync(this.storeDir, { recursive: true, force: true });
    if (this.natsUrl !== undefined) this.state.clearRun(this.natsUrl);
  }

  /** Ends the run; the first call decides the exit code. */
  private finish(code: number, message: string): void {
    if (this.outcome !== undefined) return;
    this.outcome = { code };
    this.out.line("dev", message, code === 0 ? "out" : "err");
    this.ctl.abort();
  }

  private async start(): Promise<void> {
    const { cfg, out } = this;
    const signal = this.ctl.signal;
    const deadline = Date.now() + cfg.readyTimeoutMs;
    for (const [variable, port] of [["GATEWAY_PORT", cfg.gatewayPort], ["NOTIFIER_PORT", cfg.notifierPort]] as const) {
      // Checked first, for a clear message before anything starts (a service on a taken port exits 2 naming PORT).
      if (await portOpen(port)) throw new Error(`port ${port} (${variable}) is already in use: stop what listens there or set ${variable}`);
    }
    for (const dir of ["gateway", "notifier", "metrics"] as const) {
      if (!existsSync(this.entrypoint(dir))) throw new Error(`services/${dir}/src/main.ts does not exist`);
    }

    let natsUrl = cfg.natsUrl;
    if (natsUrl === undefined) {
      if (this.natsBin === undefined) throw new Error("no nats-server binary"); // dev.ts checked already
      const config = join(this.root, ...NATS_AUTH_CONF);
      if (!existsSync(config)) throw new Error(`${NATS_AUTH_CONF.join("/")} does not exist`);
      const { passwords, file, made } = this.state.natsPasswords();
      this.natsPasswords = { passwords, file };
      if (made.length > 0) out.line("dev", `made NATS passwords for ${made.join(", ")}: kept in ${file}`);
      const ignored = NATS_CREDENTIAL_VARS.filter((v) => process.env[v] !== undefined);
      if (ignored.length > 0) out.line("dev", `${ignored.join(", ")} ignored: each service connects to this nats-server as its own user (set NATS_URL to use yours)`);
      const nats = await LocalNats.start(this.natsBin, out, {
        config,
        env: natsServerPasswordEnv(passwords),
        verbose: cfg.logLevel === "debug" || cfg.logLevel === "trace",
        timeoutMs: Math.max(1000, deadline - Date.now()),
        signal,
        onSpawn: (child, storeDir) => {
          this.nats = child;
          this.storeDir = storeDir;
          this.watch(child);
        },
      });
      natsUrl = nats.url;
      out.line("dev", `nats started (pid ${nats.child.pid}) on ${natsUrl}, JetStream store ${nats.storeDir}`);
    } else {
      out.line("dev", `using NATS_URL ${redactUrl(natsUrl)}`);
    }

    const dev = cfg.jwtSecret === undefined ? this.state.jwtSecret() : undefined;
    const secret = cfg.jwtSecret ?? dev!.secret;
    const gateways: Child[] = [];
    const channels: Record<string, string> = cfg.channelsFile === undefined ? {} : { CHANNELS_FILE: cfg.channelsFile };
    if (cfg.channelsFile !== undefined) out.line("dev", `channels: ${cfg.channelsFile} (CHANNELS_FILE), for every gateway and the notifier`);
    for (let i = 1; i <= cfg.gateways; i++) {
      // Several gateways share the port on purpose (REUSE_PORT=1: the kernel spreads connections); one alone does not, so nothing else can join it.
      const shared: Record<string, string> = cfg.gateways > 1 ? { REUSE_PORT: "1" } : {};
      gateways.push(this.spawnService(`gateway-${i}`, "gateway", natsUrl, { PORT: String(cfg.gatewayPort), ...shared, ...channels, JWT_SECRET: secret, DEMO_PAGE: cfg.demoPage ? "1" : "0", ...(cfg.demoPage ? this.demoNotifier() : {}) }));
    }
    this.spawnService("notifier", "notifier", natsUrl, { PORT: String(cfg.notifierPort), ...channels });
    this.spawnService("metrics", "metrics", natsUrl, {});

    const targets = { gatewayPort: cfg.gatewayPort, notifierPort: cfg.notifierPort, gateways: gateways.map((g) => ({ name: g.name, pid: g.pid })) };
    for (;;) {
      const missing = await whatIsNotUp(targets);
      if (signal.aborted) throw new Aborted();
      if (missing === undefined) break;
      if (Date.now() > deadline) throw new Error(`timed out after ${cfg.readyTimeoutMs / 1000} s; still waiting for ${missing}`);
      await sleepUnlessAborted(100, signal);
    }

    this.state.writeRun(natsUrl, this.natsPasswords?.passwords.backend);
    this.natsUrl = natsUrl;
    if (this.natsPasswords !== undefined) this.printBackendUrl(natsUrl, this.natsPasswords.passwords, this.natsPasswords.file);
    this.printDemoToken(secret, dev?.file);
    out.plain(readyLine(cfg, natsUrl));
  }

  /** The URL a backend in any language connects with (user `backend`), also in the state folder's backend.env. */
  private printBackendUrl(natsUrl: string, passwords: NatsPasswords, passwordsFile: string): void {
    const { out } = this;
    out.line("dev", `backend ${backendUrl(natsUrl, passwords)}`);
    out.line("dev", `  a backend in any language connects with it: requests on notifier.send and api.*, answers rpc.* and proxy.* (docs/proxy.md); as variables in ${this.state.file("backendEnv")}`);
    out.line("dev", `  every user's password (admin: everything, for the nats CLI) is kept in ${passwordsFile}`);
  }

  /** A token for the demo user, signed with the gateways' secret (`devSecretFile`: where the made-up one is kept). */
  private printDemoToken(secret: string, devSecretFile: string | undefined): void {
    const { cfg, out } = this;
    const token = signHs256(secret, DEMO_USER, DEMO_TOKEN_TTL_S);
    const auth = process.env.NOTIFIER_TOKENS ? ` -H 'authorization: Bearer <one of NOTIFIER_TOKENS>'` : "";
    if (devSecretFile !== undefined) out.line("dev", `JWT_SECRET is not set: the gateways use the dev secret kept in ${devSecretFile} (bun run token --user <id> signs with it)`);
    out.line("dev", `demo token (user "${DEMO_USER}", valid 24 h): ${token}`);
    out.line("dev", `  connect: ws://localhost:${cfg.gatewayPort}/notifications?token=${token}`);
    out.line("dev", `  send:    curl -i -X POST http://localhost:${cfg.notifierPort}/notifications -H 'content-type: application/json'${auth} -d '{"user_id":"${DEMO_USER}","body":"hello"}'`);
  }

  private entrypoint(dir: ServiceDir): string {
    return join(this.root, "services", dir, "src", "main.ts");
  }

  /** Where the demo page's "send me a test notification" goes: this run's notifier (with one of its tokens when it has any). */
  private demoNotifier(): Record<string, string> {
    const token = (process.env.NOTIFIER_TOKENS ?? "").split(",").map((t) => t.trim()).find(Boolean);
    return { DEMO_NOTIFIER_URL: `http://127.0.0.1:${this.cfg.notifierPort}`, ...(token ? { DEMO_NOTIFIER_TOKEN: token } : {}) };
  }

  private spawnService(name: string, dir: ServiceDir, natsUrl: string, vars: Record<string, string>): Child {
    const env = serviceEnv(process.env, dir, this.natsPasswords?.passwords);
    Object.assign(env, { NATS_URL: natsUrl }, serviceLogEnv(this.cfg, process.env), vars);
    const child = Child.spawn({ name, cmd: [process.execPath, "run", "src/main.ts"], cwd: join(this.root, "services", dir), env }, this.out);
    this.services.push(child);
    this.watch(child);
    this.out.line("dev", `${name} started (pid ${child.pid})`);
    return child;
  }

  /** A child that exits before the launcher stops it ends the run with exit code 1. */
  private watch(child: Child): void {
    void child.done.then((info) => {
      if (this.outcome !== undefined) return;
      setTimeout(() => this.finish(1, `${child.name} (pid ${child.pid}) exited unexpectedly with ${describeExit(info)}; stopping everything`), EXIT_RACE_MS);
    });
  }

  private children(): Child[] {
    return this.nats === undefined ? [...this.services] : [...this.services, this.nats];
  }

  /** SIGTERM to every service, SIGKILL after 10 s; then nats-server; then its store. */
  private async shutdown(): Promise<void> {
    this.shuttingDown = true;
    const { out } = this;
    const running = this.services.filter((c) => c.alive);
    if (running.length > 0) out.line("dev", `stopping ${running.map((c) => c.name).join(", ")}`);
    await Promise.all(this.services.map(async (c) => {
      const wasAlive = c.alive;
      const info = await c.stop(SERVICE_GRACE_MS);
      if (wasAlive && info.signal === "SIGKILL") out.line("dev", `${c.name} did not stop within ${SERVICE_GRACE_MS / 1000} s: killed`, "err");
    }));
    if (this.natsUrl !== undefined) this.state.clearRun(this.natsUrl);
    if (this.nats !== undefined) await this.nats.stop(NATS_GRACE_MS);
    if (this.storeDir !== undefined) rmSync(this.storeDir, { recursive: true, force: true });
    out.line("dev", "stopped");
  }
}

/**
 * The one line printed once everything answers: what to connect to, and (with DEMO_PAGE on) the
 * demo page to open in a browser, last so that the line's start stays as it always was:
 * `ready: gateway ws://localhost:8080 (1 process), notifier http://localhost:8081, nats nats://127.0.0.1:PORT, demo page http://localhost:8080/`
 */
export function readyLine(cfg: Pick<DevConfig, "gateways" | "gatewayPort" | "notifierPort" | "demoPage">, natsUrl: string): string {
  const n = cfg.gateways;
  const page = cfg.demoPage ? `, demo page http://localhost:${cfg.gatewayPort}/` : "";
  return `ready: gateway ws://localhost:${cfg.gatewayPort} (${n} process${n === 1 ? "" : "es"}), notifier http://localhost:${cfg.notifierPort}, nats ${redactUrl(natsUrl)}${page}`;
}

/**
 * What a service inherits of the launcher's environment `env`: everything but the launcher's own
 * variables. With the launcher's nats-server (`passwords`) the service connects as its own user,
 * whatever NATS_USER, NATS_PASSWORD, NATS_TOKEN or NATS_CREDS say; with NATS_URL those pass through.
 */
export function serviceEnv(env: Record<string, string | undefined>, role: ServiceDir, passwords: NatsPasswords | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !LAUNCHER_VARS.includes(k)) out[k] = v;
  if (passwords === undefined) return out;
  for (const v of NATS_CREDENTIAL_VARS) delete out[v];
  return Object.assign(out, serviceCredentials(role, passwords));
}

/** The backend user's URL of the launcher's nats-server: nats://backend:<password>@127.0.0.1:PORT. */
export function backendUrl(natsUrl: string, passwords: NatsPasswords): string {
  return urlWithCredentials(natsUrl, "backend", passwords.backend);
}

/** A NATS URL with any password hidden. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/,]+):[^@/,]+@/g, "//$1:***@");
}
