// Least privilege on NATS in compose: every nats node runs with deploy/nats/auth.conf and
// the five passwords of .env, every Bun service connects as its own user. Compose is read with
// docker-compose when it is on PATH; its nats command is run with the local nats-server.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { freePort, natsServerBinary, waitFor } from "@rt/testkit";
import { COMPOSE_REQUIRED_ENV, DOCKER_COMPOSE, ROOT, compose } from "./compose.ts";

const ROLES = ["gateway", "notifier", "metrics", "backend", "admin"] as const;
const PASSWORD_VARS = ROLES.map((r) => `NATS_${r.toUpperCase()}_PASSWORD`);
/** The image the three Bun services share; each picks its folder (and so its NATS user) with working_dir. */
const BUN_IMAGE = "realtime-gateway:local";

interface Service {
  image?: string;
  command?: string[];
  working_dir?: string;
  environment?: Record<string, string | null>;
  volumes?: (string | { source?: string; target?: string; read_only?: boolean })[];
  healthcheck?: { test?: string[] };
}

describe.skipIf(!DOCKER_COMPOSE)("compose: NATS users and permissions (docker-compose)", () => {
  const config = (files: string[]): Record<string, Service> => {
    const r = compose([...files.flatMap((f) => ["-f", f]), "config"], COMPOSE_REQUIRED_ENV);
    expect(r.exitCode, r.stderr).toBe(0);
    return (Bun.YAML.parse(r.stdout) as { services: Record<string, Service> }).services;
  };

  for (const [files, natsNodes] of [[["compose.yaml"], ["nats"]], [["compose.yaml", "compose.cluster.yaml"], ["nats", "nats-2", "nats-3"]]] as const) {
    test(`${files.join(" + ")}: every nats node runs with /etc/nats/auth.conf (deploy/nats, read-only) and the five passwords`, () => {
      const services = config([...files]);
      const nodes = Object.entries(services).filter(([, s]) => s.image?.startsWith("nats:"));
      expect(nodes.map(([name]) => name).sort()).toEqual([...natsNodes]);
      for (const [name, s] of nodes) {
        expect(s.command?.slice(0, 2), name).toEqual(["-c", "/etc/nats/auth.conf"]);
        const mounts = (s.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}${v.read_only ? ":ro" : ""}`));
        expect(mounts, name).toContain(`${join(ROOT, "deploy/nats")}:/etc/nats:ro`);
        expect(s.environment, name).toEqual(Object.fromEntries(PASSWORD_VARS.map((v) => [v, COMPOSE_REQUIRED_ENV[v as keyof typeof COMPOSE_REQUIRED_ENV]])));
        // The healthcheck asks the monitoring port, which needs no login.
        expect(s.healthcheck?.test?.join(" "), name).toContain("http://127.0.0.1:8222/healthz");
      }
    });

    test(`${files.join(" + ")}: every Bun service has NATS_USER (its role) and NATS_PASSWORD (its role's), and no other user's password`, () => {
      const services = config([...files]);
      const bun = Object.entries(services).filter(([, s]) => s.image === BUN_IMAGE);
      expect(bun.map(([name]) => name).sort()).toEqual(["gateway", "metrics", "notifier"]);
      for (const [name, s] of bun) {
        const role = s.working_dir?.split("/").pop();
        expect(role, name).toBe(name);
        const env = s.environment ?? {};
        expect({ NATS_USER: env.NATS_USER, NATS_PASSWORD: env.NATS_PASSWORD }, name).toEqual({
          NATS_USER: role!,
          NATS_PASSWORD: COMPOSE_REQUIRED_ENV[`NATS_${role!.toUpperCase()}_PASSWORD` as keyof typeof COMPOSE_REQUIRED_ENV],
        });
        expect(Object.keys(env).filter((k) => PASSWORD_VARS.includes(k) || k === "NATS_TOKEN" || k === "NATS_CREDS"), name).toEqual([]);
      }
    });

    test.each(PASSWORD_VARS)(`${files.join(" + ")}: %s is required (compose refuses to run without it, naming it)`, (name) => {
      const env: Record<string, string> = { ...COMPOSE_REQUIRED_ENV };
      delete env[name];
      const r = compose([...files.flatMap((f) => ["-f", f]), "config", "-q"], env);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain(`set ${name} in .env`);
    });
  }

  test.skipIf(!Bun.which("openssl"))("the .env recipe at the top of compose.yaml gives compose every variable it requires", () => {
    const dir = mkdtempSync(join(tmpdir(), "rt-env-recipe-"));
    try {
      const envFile = join(dir, ".env");
      writeEnvFromRecipe(envFile);
      const r = compose(["-f", "compose.yaml", "-f", "compose.cluster.yaml", "config", "-q"], {}, envFile);
      expect(r.exitCode, r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** compose.yaml's header recipe for .env (the lines from `{ printf` to `> .env`), run with bash into `file`. */
function writeEnvFromRecipe(file: string): Record<string, string> {
  const header = readFileSync(join(ROOT, "compose.yaml"), "utf8").split("\n").filter((l) => l.startsWith("#")).map((l) => l.replace(/^#\s{0,3}/, ""));
  const start = header.findIndex((l) => l.startsWith("{ printf"));
  const end = header.findIndex((l, i) => i >= start && l.includes("> .env"));
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThanOrEqual(start);
  const script = header.slice(start, end + 1).join("\n").replace(/> \.env.*$/, `> "$ENV_FILE"`);
  const proc = Bun.spawnSync(["bash", "-euc", script], { env: { PATH: process.env.PATH ?? "", ENV_FILE: file }, stdout: "pipe", stderr: "pipe" });
  expect(proc.exitCode, proc.stderr.toString()).toBe(0);
  return Object.fromEntries(readFileSync(file, "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

const natsBin = natsServerBinary();

describe.skipIf(natsBin === undefined || !Bun.which("openssl"))("compose's nats command, run with the local nats-server", () => {
  const dir = mkdtempSync(join(tmpdir(), "rt-compose-nats-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("starts with passwords made by the .env recipe; /healthz answers without a login; each user logs in with its own password only", async () => {
    const env = writeEnvFromRecipe(join(dir, ".env"));
    // nats-server parses each as a config value: only a letter then letters and digits is always read as itself.
    for (const v of PASSWORD_VARS) expect(env[v], v).toMatch(/^[A-Za-z][A-Za-z0-9]{15,}$/);
    // compose.yaml's command as it is, but for the container's paths and ports.
    const command = (Bun.YAML.parse(readFileSync(join(ROOT, "compose.yaml"), "utf8")) as { services: Record<string, Service> }).services.nats!.command!;
    const [port, monitor] = [await freePort(), await freePort()];
    const args = command.map((a) => a.replace(/^\/etc\/nats\//, `${join(ROOT, "deploy/nats")}/`).replace(/^\/data$/, join(dir, "data")).replace(/^8222$/, String(monitor)));
    expect(args).toContain(join(ROOT, "deploy/nats/auth.conf"));
    const passwords = Object.fromEntries(PASSWORD_VARS.map((v) => [v, env[v]!]));
    const proc = Bun.spawn([natsBin!, ...args, "-a", "127.0.0.1", "-p", String(port)], { env: { PATH: process.env.PATH ?? "", ...passwords }, stdout: "ignore", stderr: "pipe" });
    try {
      await waitFor("nats-server's /healthz", async () => (await fetch(`http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`)).status === 200, 10_000, 50);
      await expect(connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
      for (const role of ROLES) {
        const pass = env[`NATS_${role.toUpperCase()}_PASSWORD`]!;
        const nc = await connect({ servers: `127.0.0.1:${port}`, user: role, pass, maxReconnectAttempts: 0 });
        await nc.close();
        const other = role === "admin" ? env.NATS_BACKEND_PASSWORD! : env.NATS_ADMIN_PASSWORD!;
        await expect(connect({ servers: `127.0.0.1:${port}`, user: role, pass: other, maxReconnectAttempts: 0 })).rejects.toThrow(/Authorization Violation/i);
      }
    } finally {
      proc.kill();
      await proc.exited;
    }
  });
});

describe("docs/nats-security.md's table says what deploy/nats/auth.conf allows", () => {
  const conf = readFileSync(join(ROOT, "deploy/nats/auth.conf"), "utf8").replace(/#.*$/gm, "");
  const doc = readFileSync(join(ROOT, "docs/nats-security.md"), "utf8");
  const quoted = (text: string): string[] => [...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
  /** A user's permission set as auth.conf writes it (publish and subscribe allow lists). */
  const allowed = (user: string): { publish: string[]; subscribe: string[] } => {
    const set = new RegExp(`\\{\\s*user:\\s*${user}\\s*,[^}]*permissions:\\s*\\$(\\w+)\\s*\\}`).exec(conf)?.[1];
    expect(set, `auth.conf names ${user}'s permissions`).toBeDefined();
    const body = new RegExp(`^${set} = \\{([\\s\\S]*?)^\\}`, "m").exec(conf)?.[1] ?? "";
    const list = (kind: string) => quoted(new RegExp(`${kind}:\\s*\\{\\s*allow:\\s*\\[([^\\]]*)\\]`).exec(body)?.[1] ?? "");
    return { publish: list("publish"), subscribe: list("subscribe") };
  };
  /** The table's cells of `user`'s row: publish, subscribe, JetStream API. */
  const row = (user: string): { publish: string[]; subscribe: string; js: string } => {
    const cells = new RegExp(`^\\| \`${user}\` \\|(.*)\\|$`, "m").exec(doc)?.[1]?.split(" | ").map((c) => c.trim()) ?? [];
    expect(cells.length, `the table has a row for ${user}`).toBe(4);
    return { publish: [...cells[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!), subscribe: cells[1]!, js: cells[2]! };
  };

  test.each(["gateway", "notifier", "metrics", "backend"])("%s: every subject it may publish or subscribe to is in its row, and nothing more", (user) => {
    const a = allowed(user);
    const r = row(user);
    // Core subjects one by one; the JetStream API by its operations (`STREAM.MSG.GET`), the advisories by name.
    expect(r.publish.sort()).toEqual(a.publish.filter((s) => !s.startsWith("$JS.")).sort());
    for (const s of a.subscribe.filter((x) => !x.startsWith("$JS."))) expect(r.subscribe).toContain(`\`${s}\``);
    for (const s of a.publish.filter((x) => x.startsWith("$JS.API."))) {
      const op = s.replace(/^\$JS\.API\./, "").replace(/\.(ROOMS|NOTIFICATIONS|NOTIFY_ANSWERS|\*)(\.[*>])?$/, "");
      expect(r.js, s).toContain(`\`${op}\``);
    }
    if (!a.publish.some((s) => s.startsWith("$JS.API."))) expect(r.js).toBe("none");
  });

  test("admin has no permission set: everything", () => {
    expect(conf).toMatch(/\{\s*user:\s*admin\s*,\s*password:\s*\$NATS_ADMIN_PASSWORD\s*\}/);
  });
});
