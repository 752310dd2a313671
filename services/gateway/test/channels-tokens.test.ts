// Subscription tokens (channels a client may not subscribe to by itself) against real gateways and
// the official SDK: good, another user's or channel's, a bad signature, expired (the SDK's
// getToken), renewed with sub_refresh, not renewed (unsubscribed with 2501), info and override.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, SdkClient, ServiceProcess, TEST_JWT_SECRET, TestSocket, TestSystem, signToken, waitFor } from "@rt/testkit";

const FILE = {
  channel: {
    namespaces: [
      // A private board: nobody subscribes without a token; subscribers publish, read presence, see joins.
      { name: "board", history_size: 10, history_ttl: "3600s", force_recovery: true, presence: true, join_leave: true, allow_presence_for_subscriber: true, allow_publish_for_subscriber: true },
      // Open to clients: `$lobby:…` channels still need a token (the `$` prefix).
      { name: "lobby", allow_subscribe_for_client: true, presence: true, allow_presence_for_subscriber: true },
    ],
  },
};
const SUBSCRIPTION_SECRET = "subscription-secret-0123456789-abcdefghij";

let dir: string;
let file: string;
let sys: TestSystem;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rt-subtokens-"));
  file = join(dir, "channels.json");
  writeFileSync(file, JSON.stringify(FILE));
  sys = await TestSystem.start({ gateways: 2, gatewayEnv: { CHANNELS_FILE: file, ALLOW_ANONYMOUS: "1" } });
});
afterAll(async () => {
  await sys?.[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
});

const url = (gw: number, svc?: ServiceProcess) => `${(svc ?? sys.gw(gw)).ws}/connection/websocket`;
/** A subscription token for `user` (`""`: anonymous) and `channel`, valid `expiresIn`, with more `claims`. */
const subToken = (user: string, channel: string, opts: { expiresIn?: string | number; claims?: Record<string, unknown>; secret?: string } = {}) =>
  signToken(user, { expiresIn: opts.expiresIn ?? "1h", claims: { channel, ...opts.claims }, ...(opts.secret ? { secret: opts.secret } : {}) });

async function sdk(gw: number, user: string | undefined, svc?: ServiceProcess): Promise<SdkClient> {
  const c = SdkClient.create(url(gw, svc), user === undefined ? {} : { token: await signToken(user) });
  await c.connect();
  return c;
}
/** A subscribe the server refuses with an error: the SDK ends the subscription with its code. */
async function refused(c: SdkClient, channel: string, opts: Record<string, unknown> = {}): Promise<number> {
  c.subscription(channel, opts).subscribe();
  await c.until(() => c.unsubscribes.some((u) => u.channel === channel), `${channel} refused`);
  return c.unsubscribes.find((u) => u.channel === channel)!.code;
}
/** A raw protocol session: commands and pushes as they come. */
async function raw(gw: number, user: string) {
  const s = await TestSocket.open(url(gw));
  const lines = () => s.messages.flatMap((m) => m.split("\n")).map((l) => JSON.parse(l) as Record<string, unknown>);
  const reply = async (id: number) => {
    await waitFor(`reply ${id}`, () => lines().some((r) => r.id === id), 5000);
    return lines().find((r) => r.id === id)!;
  };
  s.send({ id: 1, connect: { token: await signToken(user) } });
  expect((await reply(1)).connect).toBeDefined();
  return { s, lines, reply };
}

describe("subscription tokens", () => {
  test("without one a private channel is 103; with a good one the subscription is made, its info reaches publications and presence", async () => {
    await using alice = await sdk(0, "tok-alice");
    await using bob = await sdk(1, "tok-bob");
    expect(await refused(alice, "board:team")).toBe(103);
    const sb = await bob.subscribe("board:plans", { token: await subToken("tok-bob", "board:plans", { claims: { info: { name: "Bob" } } }) });
    const sa = await alice.subscribe("board:plans", { getToken: () => subToken("tok-alice", "board:plans", { claims: { info: { name: "Alice" } } }) });
    await sb.publish({ text: "from bob" });
    await alice.waitFor("board:plans", 1);
    expect(alice.publications.find((p) => p.channel === "board:plans")?.info).toMatchObject({ user: "tok-bob", chanInfo: { name: "Bob" } });
    const presence = await sa.presence();
    expect(Object.values(presence.clients).map((c) => [c.user, c.chanInfo]).sort()).toEqual([["tok-alice", { name: "Alice" }], ["tok-bob", { name: "Bob" }]]);
  });

  test("another user's token or another channel's closes with 3500; a bad signature or a malformed token is 103", async () => {
    for (const token of [await subToken("someone-else", "board:x"), await subToken("tok-carol", "board:other")]) {
      await using carol = await sdk(0, "tok-carol");
      carol.subscription("board:x", { token }).subscribe();
      await carol.until(() => carol.disconnects.some((d) => d.code === 3500), "closed with 3500");
    }
    await using dave = await sdk(1, "tok-dave");
    expect(await refused(dave, "board:x", { token: await subToken("tok-dave", "board:x", { secret: "another-secret-of-at-least-32-bytes-long" }) })).toBe(103);
    expect(await refused(dave, "board:y", { token: "not.a.jwt" })).toBe(103);
    expect(dave.disconnects).toEqual([]);
  });

  test("an expired token is 109: the SDK gets a new one with getToken and subscribes", async () => {
    await using c = await sdk(0, "tok-late");
    let calls = 0;
    await c.subscribe("board:late", {
      token: await subToken("tok-late", "board:late", { expiresIn: -30 }),
      getToken: async () => {
        calls++;
        return subToken("tok-late", "board:late");
      },
    });
    expect(calls).toBe(1);
  });

  test("an expiring subscription is renewed through getToken (sub_refresh); one not renewed is unsubscribed with 2501, Centrifugo's 'subscription expired'", async () => {
    const soon = () => Math.floor(Date.now() / 1000) + 2;
    await using renewed = await sdk(0, "tok-renew");
    let refreshes = 0;
    const sub = renewed.subscription("board:renew", {
      getToken: async () => {
        refreshes++;
        // The first token expires in 2 s (expire_at); the ones getToken gives after it, in an hour.
        return subToken("tok-renew", "board:renew", refreshes === 1 ? { claims: { expire_at: soon() } } : {});
      },
    });
    sub.subscribe();
    await sub.ready(5000);
    const lapsed = await raw(1, "tok-lapse");
    lapsed.s.send({ id: 2, subscribe: { channel: "board:lapse", token: await subToken("tok-lapse", "board:lapse", { claims: { expire_at: soon() } }) } });
    expect((await lapsed.reply(2)).subscribe).toMatchObject({ expires: true, ttl: expect.any(Number) });
    await waitFor("the lapsed subscription ended", () => lapsed.lines().some((l) => (l.push as { channel?: string } | undefined)?.channel === "board:lapse"), 15_000);
    expect(lapsed.lines().find((l) => l.push !== undefined)).toEqual({ push: { channel: "board:lapse", unsubscribe: { code: 2501, reason: "subscription expired" } } });
    expect(refreshes).toBe(2); // renewed once, at its expiry
    // Past the first token's expiry and the gateway's grace, the renewed subscription still delivers.
    const publisher = await sdk(1, "tok-pub");
    await (await publisher.subscribe("board:renew", { token: await subToken("tok-pub", "board:renew") })).publish({ after: "expiry" });
    await renewed.waitFor("board:renew", 1);
    expect(renewed.unsubscribes).toEqual([]);
    await publisher[Symbol.asyncDispose]();
    await lapsed.s[Symbol.asyncDispose]();
  }, 30_000);

  test("sub_refresh: 103 for a channel one is not subscribed to, 110 for an expired token, close 3500 for another channel's", async () => {
    const r = await raw(0, "tok-refresh");
    r.s.send({ id: 2, sub_refresh: { channel: "board:none", token: await subToken("tok-refresh", "board:none") } });
    expect((await r.reply(2)).error).toMatchObject({ code: 103 });
    r.s.send({ id: 3, subscribe: { channel: "board:r", token: await subToken("tok-refresh", "board:r") } });
    expect((await r.reply(3)).subscribe).toBeDefined();
    r.s.send({ id: 4, sub_refresh: { channel: "board:r", token: await subToken("tok-refresh", "board:r", { expiresIn: -30 }) } });
    expect((await r.reply(4)).error).toMatchObject({ code: 110 });
    r.s.send({ id: 5, sub_refresh: { channel: "board:r", token: await subToken("tok-refresh", "board:r", { expiresIn: "2h" }) } });
    expect((await r.reply(5)).sub_refresh).toMatchObject({ expires: true, ttl: expect.any(Number) });
    r.s.send({ id: 6, sub_refresh: { channel: "board:r", token: await subToken("tok-refresh", "board:elsewhere") } });
    await waitFor("closed", () => r.s.closeCode !== undefined);
    expect(r.s.closeCode).toBe(3500);
  });

  test("override: a token's presence false keeps its subscriber out of presence; `$` channels need a token even where clients subscribe by themselves; an anonymous connection's token has an empty sub", async () => {
    await using a = await sdk(0, "tok-ov-a");
    await using b = await sdk(1, "tok-ov-b");
    const sa = await a.subscribe("board:ov", { token: await subToken("tok-ov-a", "board:ov") });
    await b.subscribe("board:ov", { token: await subToken("tok-ov-b", "board:ov", { claims: { override: { presence: { value: false } } } }) });
    // b's publication is the positive control: b is subscribed, and still not in presence.
    await (b.centrifuge.getSubscription("board:ov")!).publish({ n: 1 });
    await a.waitFor("board:ov", 1);
    expect(Object.values((await sa.presence()).clients).map((c) => c.user)).toEqual(["tok-ov-a"]);
    expect(await refused(a, "$lobby:secret")).toBe(103);
    await a.subscribe("$lobby:vip", { token: await subToken("tok-ov-a", "$lobby:vip") });
    await a.subscribe("lobby:open");
    await using anon = await sdk(1, undefined);
    await anon.subscribe("board:guests", { token: await subToken("", "board:guests") });
  });

  test("a connection token's channels: namespace channels are subscribed by the server at connect", async () => {
    const token = await signToken("tok-server-side", { claims: { channels: ["board:announcements", "lobby:hall"] } });
    await using c = SdkClient.create(url(0), { token });
    await c.connect();
    await c.until(() => ["board:announcements", "lobby:hall"].every((ch) => c.subscribed.some((s) => s.channel === ch)), "both server-side subscriptions");
    const bad = await TestSocket.open(url(1));
    bad.send({ id: 1, connect: { token: await signToken("tok-bad-claim", { claims: { channels: ["nowhere:x"] } }) } });
    await waitFor("an unknown namespace in the claim: invalid token", () => bad.closeCode !== undefined);
    expect(bad.closeCode).toBe(3500);
  });

  test("SUBSCRIPTION_JWT_SECRET signs subscription tokens alone: a token signed with JWT_SECRET is then 103", async () => {
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: sys.natsUrl, JWT_SECRET: TEST_JWT_SECRET, SUBSCRIPTION_JWT_SECRET: SUBSCRIPTION_SECRET, CHANNELS_FILE: file, LOG_LEVEL: "warn" });
    await using c = await sdk(0, "tok-sep", gw);
    expect(await refused(c, "board:sep", { token: await subToken("tok-sep", "board:sep") })).toBe(103);
    await c.subscribe("board:sep2", { token: await subToken("tok-sep", "board:sep2", { secret: SUBSCRIPTION_SECRET }) });
  });

  test.each([["--channel"], ["--subscription"]])("bun run token --user U %s CHANNEL makes one the gateway takes (with --info)", async (flag) => {
    const p = Bun.spawn(["bun", "run", "scripts/token.ts", "--user", "tok-cli", flag, "board:cli", "--info", '{"name":"Cli"}'], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", JWT_SECRET: TEST_JWT_SECRET }, stdout: "pipe", stderr: "pipe" });
    const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
    expect(code).toBe(0);
    await using c = await sdk(0, "tok-cli");
    const s = await c.subscribe("board:cli", { token: out.trim() });
    expect(Object.values((await s.presence()).clients)[0]).toMatchObject({ user: "tok-cli", chanInfo: { name: "Cli" } });
  });
});
