// Subscription tokens checked with real signed JWTs (jose): HS256 with JWT_SECRET or with
// SUBSCRIPTION_JWT_SECRET, RS256 from a JWKS endpoint, and every way a token can be refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { JwksServer, TEST_JWT_SECRET, unsignedToken, type JwksKey } from "@rt/testkit";
import { ConfigErrors } from "@rt/runtime";
import { loadGatewayConfig } from "../../src/config.ts";
import { JwtSubscriptionTokens, tokenRefusal, type SubscriptionTokenCheck } from "../../src/subscription-token.ts";

const SUB_SECRET = "subscription-secret-0123456789-abcdefgh";
const OTHER_SECRET = "another-secret-0123456789-abcdefghijklmn";
const now = () => Math.floor(Date.now() / 1000);
const target = { user: "alice", client: "c-1", channel: "board:42" };
const bytes = (s: string) => new TextEncoder().encode(s);

/** An HS256 token with these claims (`exp` one hour ahead unless given; `null` leaves a claim out). */
function hs(claims: Record<string, unknown>, secret = TEST_JWT_SECRET, alg = "HS256"): Promise<string> {
  const all: Record<string, unknown> = { sub: "alice", channel: "board:42", exp: now() + 3600, ...claims };
  for (const k of Object.keys(all)) if (all[k] === null) delete all[k];
  return new SignJWT(all).setProtectedHeader({ alg, typ: "JWT" }).sign(bytes(secret));
}

const failure = (r: SubscriptionTokenCheck) => (r.ok ? "ok" : r.failure);

let jwks: JwksServer;
let rsa: JwksKey;
beforeAll(async () => {
  jwks = await JwksServer.start();
  rsa = await jwks.addKey("RS256");
});
afterAll(() => jwks[Symbol.asyncDispose]());

describe("signed as connection tokens (JWT_SECRET)", () => {
  const tokens = () => new JwtSubscriptionTokens({ secret: bytes(TEST_JWT_SECRET) });

  test("a good token: its grant (expiry from exp, info, override)", async () => {
    const exp = now() + 600;
    const r = await tokens().verify(await hs({ exp, info: { role: "editor" }, override: { presence: { value: false }, force_recovery: { value: true }, join_leave: {} } }), target);
    expect(r).toEqual({ ok: true, grant: { expiresAt: exp * 1000, info: { role: "editor" }, infoBytes: undefined, override: { presence: false, force_recovery: true, join_leave: false } } });
  });

  test("expire_at: the subscription's own expiry (0: never), b64info (UTF-8 JSON) wins over info", async () => {
    const at = now() + 60;
    const a = await tokens().verify(await hs({ expire_at: at, info: { x: 1 }, b64info: Buffer.from('{"y":2}').toString("base64") }), target);
    expect(a).toEqual({ ok: true, grant: { expiresAt: at * 1000, info: { y: 2 }, infoBytes: bytes('{"y":2}'), override: undefined } });
    // Bytes that are not UTF-8 JSON cannot travel as channel info to JSON clients: the token is invalid (103).
    expect(await tokens().verify(await hs({ b64info: Buffer.from("raw bytes").toString("base64") }), target)).toEqual({ ok: false, failure: "invalid" });
    const never = await tokens().verify(await hs({ expire_at: 0 }), target);
    expect(never.ok && never.grant.expiresAt).toBeUndefined();
  });

  test("anonymous connections: a token without sub, or with sub \"\", is theirs", async () => {
    const anon = { ...target, user: "" };
    expect(failure(await tokens().verify(await hs({ sub: null }), anon))).toBe("ok");
    expect(failure(await tokens().verify(await hs({ sub: "" }), anon))).toBe("ok");
    expect(failure(await tokens().verify(await hs({}), anon))).toBe("wrong_user");
    expect(failure(await tokens().verify(await hs({ sub: null }), target))).toBe("wrong_user");
  });

  test("expired: exp passed, or nbf not reached yet (as Centrifugo counts it)", async () => {
    expect(failure(await tokens().verify(await hs({ exp: now() - 1 }), target))).toBe("expired");
    expect(failure(await tokens().verify(await hs({ exp: now() - 3600 }), target))).toBe("expired");
    expect(failure(await tokens().verify(await hs({ nbf: now() + 600 }), target))).toBe("expired");
  });

  test("another channel, user or client: told apart from an invalid token", async () => {
    expect(failure(await tokens().verify(await hs({ channel: "board:43" }), target))).toBe("wrong_channel");
    expect(failure(await tokens().verify(await hs({ sub: "bob" }), target))).toBe("wrong_user");
    expect(failure(await tokens().verify(await hs({ client: "c-2" }), target))).toBe("wrong_client");
    expect(failure(await tokens().verify(await hs({ client: "c-1" }), target))).toBe("ok");
    expect(failure(await tokens().verify(await hs({ client: "" }), target))).toBe("ok");
    // the channel is checked first, as Centrifugo does
    expect(failure(await tokens().verify(await hs({ channel: "board:43", sub: "bob" }), target))).toBe("wrong_channel");
  });

  test.each<[string, () => Promise<string>]>([
    ["a bad signature", () => hs({}, OTHER_SECRET)],
    ["no exp", () => hs({ exp: null })],
    ["no channel", () => hs({ channel: null })],
    ["an empty channel", () => hs({ channel: "" })],
    ["a channel that is not a string", () => hs({ channel: 42 })],
    ["a sub that is not a string", () => hs({ sub: 7 })],
    ["a negative expire_at", () => hs({ expire_at: -1 })],
    ["an override of the wrong shape", () => hs({ override: { presence: true } })],
    ["b64info that is not base64", () => hs({ b64info: "not base64!" })],
    ["HS512 (only HS256 is taken)", () => hs({}, TEST_JWT_SECRET, "HS512")],
    ["alg none", async () => unsignedToken({ alg: "none", typ: "JWT" }, { sub: "alice", channel: "board:42", exp: now() + 60 })],
    ["a JWKS token with no JWKS configured", () => jwks.sign(rsa, "alice", { claims: { channel: "board:42" } })],
    ["garbage", async () => "not.a.jwt"],
    ["nothing", async () => ""],
    ["too long", async () => "a".repeat(9000)],
  ])("invalid: %s", async (_what, make) => {
    expect(failure(await tokens().verify(await make(), target))).toBe("invalid");
  });

  test("JWT_ISSUER and JWT_AUDIENCE are checked as for connection tokens", async () => {
    const strict = new JwtSubscriptionTokens({ secret: bytes(TEST_JWT_SECRET), issuer: "https://issuer.test", audience: "rt" });
    expect(failure(await strict.verify(await hs({ iss: "https://issuer.test", aud: "rt" }), target))).toBe("ok");
    expect(failure(await strict.verify(await hs({ aud: "rt" }), target))).toBe("invalid");
    expect(failure(await strict.verify(await hs({ iss: "https://issuer.test", aud: "other" }), target))).toBe("invalid");
  });
});

describe("JWT_JWKS_URL: RS256 from the key set", () => {
  test("a token signed by a served key is good; with SUBSCRIPTION_JWT_SECRET set it is not", async () => {
    const token = await jwks.sign(rsa, "alice", { claims: { channel: "board:42" } });
    expect(failure(await new JwtSubscriptionTokens({ jwksUrl: jwks.url }).verify(token, target))).toBe("ok");
    expect(failure(await new JwtSubscriptionTokens({ jwksUrl: jwks.url, subscriptionSecret: bytes(SUB_SECRET) }).verify(token, target))).toBe("invalid");
  });
});

describe("SUBSCRIPTION_JWT_SECRET: subscription tokens have their own key", () => {
  const tokens = () => new JwtSubscriptionTokens({ secret: bytes(TEST_JWT_SECRET), subscriptionSecret: bytes(SUB_SECRET) });

  test("a token signed with it is good; one signed as connection tokens are is not", async () => {
    expect(failure(await tokens().verify(await hs({}, SUB_SECRET), target))).toBe("ok");
    expect(failure(await tokens().verify(await hs({}, TEST_JWT_SECRET), target))).toBe("invalid");
  });

  test("read by the gateway's configuration with JWT_SECRET's 32-byte rule", () => {
    expect(loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, SUBSCRIPTION_JWT_SECRET: SUB_SECRET }).jwt.subscriptionSecret).toEqual(bytes(SUB_SECRET));
    expect(loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET }).jwt.subscriptionSecret).toBeUndefined();
    let errors: string[] = [];
    try {
      loadGatewayConfig({ JWT_SECRET: TEST_JWT_SECRET, SUBSCRIPTION_JWT_SECRET: "short" });
    } catch (err) {
      if (!(err instanceof ConfigErrors)) throw err;
      errors = err.errors.map((e) => e.message);
    }
    expect(errors).toEqual(["SUBSCRIPTION_JWT_SECRET: must be at least 32 bytes"]);
  });
});

test("Centrifugo's answer to each refusal: subscribe 109 / 103 / close 3500; sub_refresh 110 / close 3500", () => {
  const table = (["expired", "invalid", "wrong_user", "wrong_client", "wrong_channel"] as const).map((f) => [f, tokenRefusal(f, "subscribe"), tokenRefusal(f, "sub_refresh")]);
  const close = { disconnect: { code: 3500, reason: "invalid token" } };
  expect(table as unknown[]).toEqual([
    ["expired", { error: 109 }, { error: 110 }],
    ["invalid", { error: 103 }, close],
    ["wrong_user", close, close],
    ["wrong_client", close, close],
    ["wrong_channel", close, close],
  ]);
});
