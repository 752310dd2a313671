import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, TEST_JWT_SECRET, TestSocket, TestSystem, freePort, upgradeStatus, serviceNatsEnv } from "@rt/testkit";

/** The tools' state folder here: empty, so they never find (or touch) a developer's running `bun run dev`. */
const NO_DEV_RUN = mkdtempSync(join(tmpdir(), "rt-cli-no-dev-run-"));
afterAll(() => rmSync(NO_DEV_RUN, { recursive: true, force: true }));

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  // A backend: the CLI connects to NATS as the shipped `backend` user.
  const p = Bun.spawn(["bun", "run", "scripts/notify.ts", ...args], { cwd: ROOT, env: { ...process.env, ...serviceNatsEnv("backend"), NATS_URL: "", DEV_STATE_DIR: NO_DEV_RUN, ...env }, stdout: "pipe", stderr: "pipe" });
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

describe("bun run notify --nats", () => {
  test("sends over NATS (notifier.send) to the URL given, or NATS_URL, and prints the same answer", async () => {
    await using sys = await TestSystem.start({ gateways: 0, notifier: true });
    const given = await cli(["--nats", sys.natsUrl, "--user", "nats-cli", "--body", "over nats", "--key", "n1"]);
    expect(given.err).toBe("");
    expect(given.code).toBe(0);
    const answer = JSON.parse(given.out) as { id: string; seq: number; epoch: string };
    expect(answer).toEqual({ id: expect.any(String), seq: expect.any(Number), epoch: expect.any(String) });
    const fromEnv = await cli(["--user", "nats-cli", "--body", "over nats", "--key", "n1", "--nats"], { NATS_URL: sys.natsUrl });
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(fromEnv.out)).toEqual(answer); // the same key: the first answer
    const bad = await cli(["--nats", sys.natsUrl, "--user", "u", "--body", "x".repeat(70 * 1024)]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("413");
  });

  test("no notifier listening on NATS: exit 1 saying so, naming the server and where its URL came from; --url with --nats is bad input", async () => {
    await using sys = await TestSystem.start({ gateways: 0 });
    const r = await cli(["--nats", sys.natsUrl, "--user", "u", "--body", "x"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`notify: nobody answers notifier.send at NATS at ${sys.natsUrl} (--nats): no notifier is connected to that server\n`);
    expect((await cli(["--nats", "--url", "http://x", "--user", "u", "--body", "x"])).code).toBe(2);
  });

  test("no URL given and no bun run dev running: exit 1 saying so, never trying another server", async () => {
    const r = await cli(["--nats", "--user", "u", "--body", "x"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`notify: no NATS server to send to: give --nats nats://host:port or set NATS_URL, or start \`bun run dev\` (no dev run is running: ${join(NO_DEV_RUN, "nats-url")} does not exist)\n`);
    expect(r.out).toBe("");
  });

  test("the dev run's server and backend user come from its state folder (DEV_STATE_DIR); a dead one is named as the dev run's", async () => {
    await using sys = await TestSystem.start({ gateways: 0, notifier: true });
    const state = mkdtempSync(join(tmpdir(), "rt-cli-dev-run-"));
    try {
      // What a running `bun run dev` leaves: its server's URL and the users' passwords (the test server's backend password here).
      await Bun.write(join(state, "nats-url"), `${sys.natsUrl}\n`);
      await Bun.write(join(state, "nats-passwords.json"), JSON.stringify({ backend: serviceNatsEnv("backend").NATS_PASSWORD }));
      const noCredentials = { NATS_USER: "", NATS_PASSWORD: "", DEV_STATE_DIR: state };
      const sent = await cli(["--nats", "--user", "from-dev-state", "--body", "x"], noCredentials);
      expect(sent.err).toBe("");
      expect(sent.code).toBe(0);
      const dead = `nats://127.0.0.1:${await freePort()}`;
      await Bun.write(join(state, "nats-url"), `${dead}\n`);
      const stale = await cli(["--nats", "--user", "u", "--body", "x"], noCredentials);
      expect(stale.code).toBe(1);
      expect(stale.err).toContain(`cannot reach NATS at ${dead} (the running bun run dev's, from ${join(state, "nats-url")})`);
      expect(stale.err).toContain("is that bun run dev still running?");
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });

  test("credentials in --nats work but draw a warning: argv is visible to others and bun run prints it", async () => {
    await using sys = await TestSystem.start({ gateways: 0, notifier: true });
    const { NATS_USER, NATS_PASSWORD } = serviceNatsEnv("backend");
    const withPassword = sys.natsUrl.replace("nats://", `nats://${NATS_USER}:${NATS_PASSWORD}@`);
    const r = await cli(["--nats", withPassword, "--user", "u", "--body", "x"], { NATS_USER: "", NATS_PASSWORD: "" });
    expect(r.code).toBe(0);
    expect(r.err).toStartWith("notify: warning: the credentials in --nats can be read by anyone on this machine (ps)");
  });

  test("with no arguments: says --user is required and shows the usage", async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--user is required");
    expect(r.err).toContain("usage: bun run notify");
  });
});

describe("bun run token", () => {
  async function token(args: string[], env: Record<string, string> = {}) {
    const p = Bun.spawn(["bun", "run", "scripts/token.ts", ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DEV_STATE_DIR: NO_DEV_RUN, ...env }, stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code, out: out.trim(), err };
  }

  test("signs with JWT_SECRET: the gateway takes the token for that user; --ttl sets exp", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true });
    const r = await token(["--user", "auth0|tok", "--ttl", "2m"], { JWT_SECRET: TEST_JWT_SECRET });
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    const claims = JSON.parse(Buffer.from(r.out.split(".")[1]!, "base64url").toString()) as { sub: string; exp: number; iat: number };
    expect(claims.sub).toBe("auth0|tok");
    expect(claims.exp - claims.iat).toBe(120);
    await using s = await TestSocket.open(`${sys.gw(0).ws}/notifications?token=${r.out}`);
    await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "auth0|tok", body: "for the token" }) });
    expect(JSON.parse((await s.waitForMessages(1))[0]!).body).toBe("for the token");
    expect((await upgradeStatus(`${sys.gw(0).ws}/notifications?token=${(await token(["--user", "x"], { JWT_SECRET: "another-secret-of-at-least-32-bytes!!" })).out}`)).status).toBe(401);
  });

  test.each([
    [[], "--user is required"],
    [["--user", ""], "--user must be"],
    [["--user", "u", "--ttl", "forever"], "--ttl must be a duration"],
    [["--user", "u", "--ttl", "400d"], "--ttl must be at most"],
    [["--user", "u", "--nope"], "nope"],
    [["--user", "u", "--connect-channel", "#someone"], "--connect-channel #someone"],
    [["--user", "u", "--connect-channel", "chat:no room"], "--connect-channel chat:no room"],
    [["--user", "u", "--channel", "chat:no room"], '--channel "chat:no room"'],
    [["--user", "u", "--channel", "board:a", "--channel", "board:b"], "names the one channel of a subscription token"],
    [["--user", "u", "--channel", "board:a", "--connect-channel", "chat:x"], "not both"],
  ])("bad input %p: exit 2, %s", async (args, said) => {
    const r = await token(args, { JWT_SECRET: TEST_JWT_SECRET });
    expect(r.code).toBe(2);
    expect(r.err).toContain(said);
    expect(r.out).toBe("");
  });

  test("--connect-channel puts channels in the claim: the connection is subscribed to them at connect", async () => {
    await using sys = await TestSystem.start({ gateways: 1 });
    const r = await token(["--user", "tok-ch", "--connect-channel", "chat:tok-room", "--connect-channel", "system:monitor"], { JWT_SECRET: TEST_JWT_SECRET });
    expect(r.code).toBe(0);
    await using s = await TestSocket.open(`${sys.gw(0).ws}/connection/websocket`);
    s.send({ id: 1, connect: { token: r.out } });
    const reply = await s.nextJson<{ connect: { subs: Record<string, unknown> } }>();
    expect(Object.keys(reply.connect.subs).sort()).toEqual(["#tok-ch", "chat:tok-room", "system:monitor"]);
  });

  test("a short JWT_SECRET is refused (the gateway would refuse it too)", async () => {
    const r = await token(["--user", "u"], { JWT_SECRET: "short" });
    expect(r.code).toBe(2);
    expect(r.err).toContain("at least 32 bytes");
  });
});

describe("bun run api", () => {
  async function api(args: string[], env: Record<string, string> = {}) {
    const p = Bun.spawn(["bun", "run", "scripts/api.ts", ...args], { cwd: ROOT, env: { ...process.env, ...serviceNatsEnv("backend"), NOTIFIER_TOKEN: "", NATS_URL: "", DEV_STATE_DIR: NO_DEV_RUN, ...env }, stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code, out: out.trim(), err };
  }

  test("calls a method over HTTP (the token as X-API-Key) and over NATS; an error answer or a wrong token exits 1", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true, notifierEnv: { NOTIFIER_TOKENS: "cli-key" } });
    const info = await api(["info", "--url", sys.notifier!.http, "--token", "cli-key"]);
    expect(info.code).toBe(0);
    expect((JSON.parse(info.out) as { result: { nodes: unknown[] } }).result.nodes).toHaveLength(1);
    const pub = await api(["publish", '{"channel":"chat:cli","data":{"text":"hi"}}', "--nats", sys.natsUrl]);
    expect(pub.code).toBe(0);
    expect((JSON.parse(pub.out) as { result: { offset: number } }).result.offset).toBeGreaterThan(0);
    const viaEnv = await api(["history", '{"channel":"chat:cli","limit":1}'], { NOTIFIER_URL: sys.notifier!.http, NOTIFIER_TOKEN: "cli-key" });
    expect(viaEnv.code).toBe(0);
    expect(JSON.parse(viaEnv.out)).toMatchObject({ result: { publications: [{ data: { text: "hi" } }] } });

    const refused = await api(["publish", '{"channel":"news:x","data":1}', "--url", sys.notifier!.http, "--token", "cli-key"]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.out)).toEqual({ error: { code: 102, message: "unknown channel" } });
    const batch = await api(["batch", '{"commands":[{"info":{}},{"publish":{"channel":"#u","data":1}}]}', "--nats", sys.natsUrl]);
    expect(batch.code).toBe(1);
    const wrongToken = await api(["info", "--url", sys.notifier!.http, "--token", "nope"]);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.err).toContain("401");
  });

  test.each([
    [[], "a method is required"],
    [["nope"], "unknown method nope"],
    [["publish", "{not json"], "must be JSON"],
    [["publish", '{"channel":"chat:x"}'], "data"],
    [["info", "{}", "extra"], "one JSON argument"],
    [["info", "--url", "http://x", "--nats"], "--url and --token are for HTTP"],
  ])("bad input %p exits 2 saying %s", async (args, said) => {
    const r = await api(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(said);
  });

  test("an unreachable notifier exits 1", async () => {
    const r = await api(["info", "--url", `http://127.0.0.1:${await freePort()}`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot reach the notifier");
  });
});
