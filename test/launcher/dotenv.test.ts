// A compose `.env` at the root of a clone (README, "Deploying with Docker Compose") changes neither
// what the tests check nor what `bun run dev` or `bun run token` do: Bun's own .env loading is off
// (bunfig.toml), and the services the test kit starts inherit nothing of the test run's
// configuration. Reading it is a choice: `bun --env-file=.env run token`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, ROOT } from "@rt/testkit";
import { DevRun, environOf } from "./dev-run.ts";

/** What a deployment's .env holds (compose.yaml's recipe), and settings that would change a dev run. */
const DOTENV = {
  JWT_SECRET: "compose-secret-0123456789-abcdefghijklmnop",
  NOTIFIER_TOKENS: "compose-token",
  NATS_BACKEND_PASSWORD: "pComposeBackend0123456789",
  DEMO_PAGE: "0",
  LOG_LEVEL: "error",
};

/**
 * A clone with a `.env` at its root: the repository's own files (linked) and the .env, so `bun`
 * run there reads exactly the repository's bunfig.toml and package.json.
 */
let clone: string;
beforeAll(() => {
  clone = mkdtempSync(join(tmpdir(), "rt-clone-with-dotenv-"));
  for (const entry of ["package.json", "bunfig.toml", "tsconfig.json", "node_modules", "packages", "services", "scripts", "deploy"]) symlinkSync(join(ROOT, entry), join(clone, entry));
  writeFileSync(join(clone, ".env"), Object.entries(DOTENV).map(([k, v]) => `${k}=${v}\n`).join(""));
});
afterAll(() => rmSync(clone, { recursive: true, force: true }));

/** The environment of a person's shell: none of the variables the .env sets. */
function shellEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !(k in DOTENV) && !k.startsWith("NATS_") && k !== "DEV_STATE_DIR") env[k] = v;
  return env;
}

async function run(cmd: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn([process.execPath, ...cmd], { cwd: clone, env: { ...shellEnv(), ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

test("git ignores .env and its variants (.env.local, .env.production), so `git add -A` commits no secret", () => {
  const ignored = (path: string) => Bun.spawnSync(["git", "check-ignore", "-q", "--no-index", path], { cwd: ROOT }).exitCode === 0;
  expect([".env", ".env.local", ".env.production", "deploy/.env"].filter((p) => !ignored(p))).toEqual([]);
  expect(ignored("deploy/channels.json")).toBe(false); // positive control: the check tells the two apart
});

describe("a compose .env at the root of the clone", () => {
  test("bun test: the test run does not see it, and a notifier the test kit starts stays open (no NOTIFIER_TOKENS)", async () => {
    writeFileSync(join(clone, "dotenv-probe.test.ts"), `
import { expect, test } from "bun:test";
import { TestSystem } from "@rt/testkit";
test("probe", async () => {
  expect(process.env.NOTIFIER_TOKENS).toBeUndefined();
  expect(process.env.JWT_SECRET).toBeUndefined();
  await using sys = await TestSystem.start({ gateways: 0, notifier: true });
  const r = await fetch(sys.notifier!.http + "/notifications", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "u", body: "x" }) });
  expect(r.status).toBe(202);
});
`);
    const r = await run(["test", "./dotenv-probe.test.ts", "--timeout", "60000"]);
    expect({ code: r.code, err: r.err }).toMatchObject({ code: 0, err: expect.stringContaining("1 pass") });
  });

  test("bun run dev: the services get nothing of it; the README's curl needs no token, and the demo page is on", async () => {
    const ports = { GATEWAY_PORT: String(await freePort()), NOTIFIER_PORT: String(await freePort()) };
    await using dev = DevRun.start(ports, clone);
    const ready = await dev.waitForLine(/^ready: .*$/);
    expect(ready[0]).toEndWith(`, demo page http://localhost:${ports.GATEWAY_PORT}/`);
    for (const [name, pid] of dev.childPids) {
      if (name === "nats") continue;
      const env = environOf(pid);
      expect([name, env.NOTIFIER_TOKENS, env.LOG_LEVEL, env.DEMO_PAGE === "0"]).toEqual([name, undefined, "info", false]);
    }
    expect(dev.output).toContain("JWT_SECRET is not set: the gateways use the dev secret");
    const r = await fetch(`http://127.0.0.1:${ports.NOTIFIER_PORT}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "demo", body: "hello" }) });
    expect(r.status).toBe(202);
    expect(await dev.stop("SIGTERM", 15_000)).toBe(0);
  });

  test("bun run token signs with the dev run's secret, as the dev gateways check; with --env-file=.env, with the deployment's", async () => {
    const state = mkdtempSync(join(tmpdir(), "rt-dotenv-state-"));
    try {
      const devSecret = "dev-secret-of-this-clone-0123456789abcdef";
      writeFileSync(join(state, "jwt-secret"), `${devSecret}\n`);
      const signedWith = (token: string) => {
        const [header, payload, signature] = token.trim().split(".");
        expect(JSON.parse(Buffer.from(payload!, "base64url").toString()).sub).toBe("alice");
        return [devSecret, DOTENV.JWT_SECRET].find((s) => createHmac("sha256", s).update(`${header}.${payload}`).digest("base64url") === signature);
      };
      const plain = await run(["run", "token", "--user", "alice"], { DEV_STATE_DIR: state });
      expect(plain.code).toBe(0);
      expect(signedWith(plain.out)).toBe(devSecret);
      const chosen = await run(["--env-file=.env", "run", "token", "--user", "alice"], { DEV_STATE_DIR: state });
      expect(chosen.code).toBe(0);
      expect(signedWith(chosen.out)).toBe(DOTENV.JWT_SECRET);
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});
