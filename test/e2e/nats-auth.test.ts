// NATS credentials end to end, with real processes: bad NATS_* variables stop every service with
// exit 2; a service connects with an nkey seed file or a .creds file to a nats-server that knows
// only that key; credentials the server refuses end it with exit 1; the command-line tools report
// a subject their user may not use as `permission denied: <subject>` at once, not after a timeout.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { metricsSubject } from "@rt/protocol";
import { ROOT, ServiceProcess, TEST_JWT_SECRET, TestNats, runToExit, waitFor } from "@rt/testkit";
import { operatorSetup, tempFiles, userNkey } from "../../packages/runtime/test/fixtures/nats-creds.ts";
import { splitUrlCredentials } from "../../scripts/lib/cli.ts";

const { dir, file, remove } = tempFiles("rt-nats-auth-e2e-");
afterAll(remove);

/** A nats-server of the test's own with `config` (users and permissions written here, no JetStream). */
const ownNats = (config: string): Promise<TestNats> => TestNats.start({ jetstream: false, config });

/** A subscriber allowed to read everything; resolves with the first message on `subject`. */
async function firstMessage(nc: NatsConnection, subject: string, timeoutMs = 10_000): Promise<string> {
  const sub = nc.subscribe(subject, { max: 1, timeout: timeoutMs });
  for await (const m of sub) return m.subject;
  throw new Error(`nothing on ${subject}`);
}

const WATCHER = { user: "watcher", pass: "watcher-password" };
const watcherEntry = `{ user: ${WATCHER.user}, password: ${WATCHER.pass}, permissions: { subscribe: [">"] } }`;

describe("bad NATS_* variables: exit 2 naming the variable, every service", () => {
  const seed = userNkey().seed;
  const services = [
    ["gateway", { JWT_SECRET: TEST_JWT_SECRET }],
    ["notifier", {}],
    ["metrics", {}],
  ] as const;
  const cases: Array<[string, () => Record<string, string>, string]> = [
    ["a half pair", () => ({ NATS_USER: "someone" }), "NATS_PASSWORD: is required with NATS_USER"],
    ["two ways at once", () => ({ NATS_TOKEN: "tok-secret", NATS_CREDS: file(seed) }), "NATS_CREDS: cannot be combined with NATS_TOKEN"],
    ["unreadable NATS_CREDS", () => ({ NATS_CREDS: join(dir, "no-such.creds") }), "NATS_CREDS: cannot read"],
    ["unparseable NATS_CREDS", () => ({ NATS_CREDS: file("not a seed\n") }), "NATS_CREDS: "],
  ];
  for (const [service, extra] of services) {
    test.each(cases)(`${service}: %s`, async (_label, env, line) => {
      const { code, output } = await runToExit(service, { ...extra, ...env() });
      expect(code).toBe(2);
      expect(output.trim().split("\n")).toHaveLength(1);
      expect(output).toContain(`${service}: invalid configuration: ${line}`);
      expect(output).not.toContain("tok-secret");
      expect(output).not.toContain(seed.slice(2));
    });
  }
});

describe("a service connects with its nkey or .creds file; refused credentials end it", () => {
  let nats: TestNats;
  let watcher: NatsConnection;
  const nkey = userNkey();
  beforeAll(async () => {
    // Only the metrics service's key and a watcher are known; the key may do what the shipped `metrics` user may.
    nats = await ownNats(`authorization { users: [
      { nkey: ${nkey.publicKey}, permissions: { publish: ["metrics.host.*"], subscribe: ["_INBOX_metrics.>"] } }
      ${watcherEntry}
    ] }\n`);
    watcher = await connect({ ...WATCHER, servers: nats.url });
  });
  afterAll(async () => {
    await watcher?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  test("NATS_CREDS naming a bare nkey seed: the metrics service connects, is ready and publishes its samples", async () => {
    const sample = firstMessage(watcher, metricsSubject("nkey-host"));
    await watcher.flush();
    await using svc = await ServiceProcess.start("metrics", { NATS_URL: nats.url, NATS_CREDS: file(`${nkey.seed}\n`), HOST_ID: "nkey-host", INTERVAL_MS: "100" }, { withPort: true });
    expect((await fetch(`${svc.http}/readyz`)).status).toBe(200);
    expect(await sample).toBe(metricsSubject("nkey-host"));
  });

  test("credentials the server refuses: exit 1 with one clear line, no secret in it (metrics, and the gateway's background connect)", async () => {
    const m = await runToExit("metrics", { NATS_URL: nats.url, NATS_USER: "metrics", NATS_PASSWORD: "wrong-secret", LOG_LEVEL: "silent" });
    expect(m.code).toBe(1);
    expect(m.output.trim()).toBe("metrics: cannot use NATS: NATS refused the credentials (user metrics): Authorization Violation");
    const other = userNkey(); // a key the server does not know
    const g = await runToExit("gateway", { NATS_URL: nats.url, NATS_CREDS: file(other.seed), JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "silent" });
    expect(g.code).toBe(1);
    expect(g.output.trim()).toBe("gateway: cannot use NATS: NATS refused the credentials (NATS_CREDS): Authorization Violation");
  });

  test("credentials refused at a reconnect (the server's password changed): exit 1, not a service that is never ready again", async () => {
    const conf = (password: string) => `authorization { users: [ { user: metrics, password: ${password} } ] }\n`;
    await using own = await ownNats(conf("first-password"));
    await using svc = await ServiceProcess.start("metrics", { NATS_URL: own.url, NATS_USER: "metrics", NATS_PASSWORD: "first-password", LOG_LEVEL: "error" }, { withPort: true });
    await own.stop(true);
    await own.restart({ config: conf("second-password") });
    expect(await svc.proc.exited).toBe(1);
    expect(svc.logs).toContain("metrics: cannot use NATS: Authorization Violation");
    expect(svc.logs).not.toContain("first-password");
  });

  test("NATS_CREDS naming a .creds file (a user JWT of an operator's account): connects and publishes", async () => {
    const { serverConf, creds, watcherCreds } = operatorSetup({ pub: ["metrics.host.*"], sub: ["_INBOX_metrics.>"] });
    await using own = await ownNats(serverConf);
    const reader = await connect({ servers: own.url, authenticator: credsAuthenticator(new TextEncoder().encode(watcherCreds)) });
    try {
      const sample = firstMessage(reader, metricsSubject("creds-host"));
      await reader.flush();
      await using svc = await ServiceProcess.start("metrics", { NATS_URL: own.url, NATS_CREDS: file(creds), HOST_ID: "creds-host", INTERVAL_MS: "100" }, { withPort: true });
      expect((await fetch(`${svc.http}/readyz`)).status).toBe(200);
      expect(await sample).toBe(metricsSubject("creds-host"));
    } finally {
      await reader.close();
    }
  });
});

describe("the command-line tools as a backend", () => {
  let nats: TestNats;
  beforeAll(async () => {
    // A backend that may call the server API but not send notifications, and a user whose reply inbox is not its own.
    nats = await ownNats(`authorization { users: [
      { user: backend, password: backend-password, permissions: { publish: ["api.*"], subscribe: ["_INBOX.>"] } }
      { user: no-inbox, password: no-inbox-password, permissions: { publish: ["api.*", "notifier.send"], subscribe: ["_INBOX_elsewhere.>"] } }
    ] }\n`);
  });
  afterAll(() => nats?.[Symbol.asyncDispose]());

  /** Runs `bun run <script>` with only these NATS_* variables. */
  async function cli(script: string, args: string[], env: Record<string, string>): Promise<{ code: number; err: string; ms: number }> {
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("NATS_")) base[k] = v;
    const started = Date.now();
    const p = Bun.spawn(["bun", "run", `scripts/${script}.ts`, ...args], { cwd: ROOT, env: { ...base, ...env }, stdout: "pipe", stderr: "pipe" });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    return { code, err, ms: Date.now() - started };
  }
  const backend = { NATS_USER: "backend", NATS_PASSWORD: "backend-password" };

  test("a subject the user may not publish to: `permission denied: notifier.send`, exit 1, at once (not the 10 s timeout)", async () => {
    const r = await cli("notify", ["--nats", nats.url, "--user", "u", "--body", "x"], backend);
    expect(r.code).toBe(1);
    expect(r.err).toContain("notify: permission denied: notifier.send (connected as user backend, which may not publish there)");
    expect(r.ms).toBeLessThan(5000);
  });

  test("credentials in the URL (as `bun run dev` prints the backend's) are used, and never printed; with NATS_* as well they are bad input", async () => {
    const withCreds = nats.url.replace("nats://", "nats://backend:backend-password@");
    const r = await cli("notify", ["--nats", withCreds, "--user", "u", "--body", "x"], {});
    expect(r.code).toBe(1);
    expect(r.err).toContain("permission denied: notifier.send (connected as user backend");
    const wrong = await cli("api", ["info", "--nats", nats.url.replace("nats://", "nats://backend:wrong-secret@")], {});
    expect(wrong.err).toContain(`NATS at ${nats.url} (--nats) refused the credentials (user backend)`);
    expect(wrong.err).not.toContain("wrong-secret");
    const both = await cli("api", ["info", "--nats", withCreds], backend);
    expect(both.code).toBe(2);
    expect(both.err).toContain("api: --nats: has credentials in it and so do NATS_USER/NATS_PASSWORD");
  });

  test("a reply inbox the user may not subscribe to: permission denied on the inbox, exit 1, at once", async () => {
    const r = await cli("api", ["info", "--nats", nats.url], { NATS_USER: "no-inbox", NATS_PASSWORD: "no-inbox-password" });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/api: permission denied: _INBOX\.\S+ \(connected as user no-inbox, which may not subscribe to the reply inbox/);
    expect(r.ms).toBeLessThan(5000);
  });

  test("an allowed subject nobody serves is still `no answer` (no responders); refused credentials and bad variables are named", async () => {
    const none = await cli("api", ["info", "--nats", nats.url], backend);
    expect(none.code).toBe(1);
    expect(none.err).toContain("nobody answers api.info at NATS at");
    expect(none.err).toContain("no notifier is connected to that server");
    const refused = await cli("notify", ["--nats", nats.url, "--user", "u", "--body", "x"], { NATS_USER: "backend", NATS_PASSWORD: "wrong-secret" });
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`NATS at ${nats.url} (--nats) refused the credentials (user backend): Authorization Violation`);
    expect(refused.err).not.toContain("wrong-secret");
    const half = await cli("notify", ["--nats", nats.url, "--user", "u", "--body", "x"], { NATS_USER: "backend" });
    expect(half.code).toBe(2);
    expect(half.err).toContain("notify: NATS_PASSWORD: is required with NATS_USER");
    const unreadable = await cli("api", ["info", "--nats", nats.url], { NATS_CREDS: join(dir, "missing.creds") });
    expect(unreadable.code).toBe(2);
    expect(unreadable.err).toContain("api: NATS_CREDS: cannot read");
  });
});

test("splitUrlCredentials: user and password, a token, percent-encoding, several servers", () => {
  expect(splitUrlCredentials("nats://127.0.0.1:4222")).toEqual({ url: "nats://127.0.0.1:4222" });
  expect(splitUrlCredentials("nats://backend:p%20a%2Fb@h:1,nats://h2:2")).toEqual({ url: "nats://h:1,nats://h2:2", auth: { user: "backend", pass: "p a/b" } });
  expect(splitUrlCredentials("tls://s3cr3t@h:1")).toEqual({ url: "tls://h:1", auth: { token: "s3cr3t" } });
});
