import { describe, expect, test } from "bun:test";
import { ROOT, TestSystem, freePort } from "@rt/testkit";

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["bun", "run", "scripts/notify.ts", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

describe("bun run notify", () => {
  test("sends a notification and prints the answer; a repeated key prints the first one", async () => {
    await using sys = await TestSystem.start({ gateways: 0, notifier: true });
    const args = ["--url", sys.notifier!.http, "--user", "auth0|cli", "--body", "deploy done", "--title", "Deploy", "--data", '{"env":"prod"}', "--key", "k1"];
    const first = await cli(args);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    const answer = JSON.parse(first.out) as { id: string; seq: number };
    expect(answer.seq).toBeGreaterThan(0);
    expect(typeof answer.id).toBe("string");
    const again = await cli(args);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toEqual(answer);
  });

  test.each([
    [["--body", "x"], "--user"],
    [["--user", "", "--body", "x"], "--user"],
    [["--user", "u"], "--body"],
    [["--user", "u", "--body", "x", "--data", "[1"], "--data"],
    [["--user", "u", "--body", "x", "--data", "[1]"], "--data"],
    [["--user", "u", "--body", "x", "--wait-ms", "soon"], "--wait-ms"],
    [["--nope"], "nope"],
  ])("bad input %p exits 2 naming %s", async (args, named) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(named);
    expect(r.out).toBe("");
  });

  test("an unreachable notifier exits 1 with a clear error", async () => {
    const r = await cli(["--url", `http://127.0.0.1:${await freePort()}`, "--user", "u", "--body", "x"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot reach the notifier");
  });

  test("a refusing notifier (wrong token) exits 1 with its status", async () => {
    await using sys = await TestSystem.start({ gateways: 0, notifier: true, notifierEnv: { NOTIFIER_TOKENS: "right-token" } });
    const r = await cli(["--url", sys.notifier!.http, "--token", "wrong", "--user", "u", "--body", "x"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("401");
    const ok = await cli(["--url", sys.notifier!.http, "--user", "u", "--body", "x"], { NOTIFIER_TOKEN: "right-token" });
    expect(ok.code).toBe(0);
  });
});
