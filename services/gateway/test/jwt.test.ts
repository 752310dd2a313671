import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { SignJWT, type JWTHeaderParameters } from "jose";
import {
  JwksServer, Opcode, RawSocket, ServiceProcess, TestNats, TestSocket, TEST_JWT_SECRET, b64url, freePort, unsignedToken, rawUpgrade, waitFor,
  type JwksKey,
} from "@rt/testkit";

/**
 * Hostile tokens on /notifications: every refusal is a 401 with a JSON body before the upgrade,
 * with JWT_SECRET (plus JWT_AUDIENCE / JWT_ISSUER), with JWT_JWKS_URL (RS256, ES256), and with both.
 */

const AUD = "rt-gateway";
const ISS = "https://issuer.test";
const now = () => Math.floor(Date.now() / 1000);

let nats: TestNats;
let jwks: JwksServer;
let rsa: JwksKey;
let ec: JwksKey;
let ps: JwksKey;
let unserved: JwksKey;
/** JWT_SECRET, JWT_AUDIENCE, JWT_ISSUER; sweeps every 100 ms (expired tokens are closed on a sweep). */
let hs: ServiceProcess;
/** JWT_JWKS_URL only; sweeps every 100 ms. */
let jw: ServiceProcess;
/** JWT_SECRET and JWT_JWKS_URL. */
let both: ServiceProcess;

beforeAll(async () => {
  nats = await TestNats.start();
  jwks = await JwksServer.start();
  [rsa, ec, ps, unserved] = await Promise.all([jwks.addKey("RS256"), jwks.addKey("ES256"), jwks.addKey("PS256"), jwks.addKey("RS256", { serve: false })]);
  const base = { NATS_URL: nats.url, LOG_LEVEL: "warn" };
  [hs, jw, both] = await Promise.all([
    ServiceProcess.start("gateway", { ...base, JWT_SECRET: TEST_JWT_SECRET, JWT_AUDIENCE: AUD, JWT_ISSUER: ISS, SWEEP_INTERVAL_MS: "100" }),
    ServiceProcess.start("gateway", { ...base, JWT_JWKS_URL: jwks.url, SWEEP_INTERVAL_MS: "100" }),
    ServiceProcess.start("gateway", { ...base, JWT_SECRET: TEST_JWT_SECRET, JWT_JWKS_URL: jwks.url }),
  ]);
});
afterAll(async () => {
  await Promise.all([hs, jw, both].map((g) => g?.[Symbol.asyncDispose]()));
  await jwks?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

interface HsOptions {
  sub?: unknown;
  /** Absolute `exp` in seconds; null leaves it out. */
  exp?: unknown;
  aud?: unknown;
  iss?: unknown;
  claims?: Record<string, unknown>;
  secret?: string | Uint8Array;
  alg?: string;
  header?: Partial<JWTHeaderParameters>;
}

/** An HMAC token for the `hs` gateway: right audience, issuer and secret unless told otherwise. */
function hsToken(o: HsOptions = {}): Promise<string> {
  const payload: Record<string, unknown> = { iat: now(), ...o.claims };
  const set = (k: string, v: unknown, dflt: unknown) => {
    const value = v === undefined ? dflt : v;
    if (value !== null) payload[k] = value;
  };
  set("sub", o.sub, "alice");
  set("exp", o.exp, now() + 3600);
  set("aud", o.aud, AUD);
  set("iss", o.iss, ISS);
  const secret = typeof o.secret === "string" || o.secret === undefined ? new TextEncoder().encode(o.secret ?? TEST_JWT_SECRET) : o.secret;
  return new SignJWT(payload).setProtectedHeader({ alg: o.alg ?? "HS256", typ: "JWT", ...o.header }).sign(secret);
}

/** HS256 over arbitrary header and payload text (for payloads jose would never produce). */
function rawHs256(header: string, payload: string, secret = TEST_JWT_SECRET): string {
  const signingInput = `${b64url(header)}.${b64url(payload)}`;
  return `${signingInput}.${createHmac("sha256", secret).update(signingInput).digest("base64url")}`;
}

async function expect401(gw: ServiceProcess, token: string | undefined, headers: Record<string, string> = {}): Promise<void> {
  const q = token === undefined ? "" : `?token=${encodeURIComponent(token)}`;
  const r = await rawUpgrade(gw.port!, `/notifications${q}`, headers);
  expect(r.status).toBe(401);
  expect(JSON.parse(r.body)).toEqual({ error: expect.any(String) });
}

async function expectOpen(gw: ServiceProcess, token: string, headers?: Record<string, string>): Promise<void> {
  await using s = await TestSocket.open(`${gw.ws}/notifications?token=${encodeURIComponent(token)}`, headers ? { headers } : {});
  expect(s.ws.readyState).toBe(WebSocket.OPEN);
}

type Case = [name: string, expected: 101 | 401, token: () => Promise<string> | string];

describe("HS256 with JWT_AUDIENCE and JWT_ISSUER", () => {
  const cases: Case[] = [
    ["a good token (control)", 101, () => hsToken()],
    ["aud as an array holding ours (control)", 101, () => hsToken({ aud: ["other", AUD] })],
    ["sub of 256 characters (control)", 101, () => hsToken({ sub: "u".repeat(256) })],
    ["sub auth0|123 (control)", 101, () => hsToken({ sub: "auth0|123" })],
    ["signed with another secret", 401, () => hsToken({ secret: "another-secret-0123456789-abcdefghijkl" })],
    ["signed with an empty secret", 401, () => rawHs256(JSON.stringify({ alg: "HS256" }), JSON.stringify({ sub: "alice", exp: now() + 3600, aud: AUD, iss: ISS }), "")],
    ["signed with the secret's prefix", 401, () => hsToken({ secret: TEST_JWT_SECRET.slice(0, 32) })],
    ["expired a minute ago", 401, () => hsToken({ exp: now() - 60 })],
    ["expired a day ago", 401, () => hsToken({ exp: now() - 86_400 })],
    ["expired 2 s ago (inside any clock tolerance, still expired)", 401, () => hsToken({ exp: now() - 2 })],
    ["exp 0", 401, () => hsToken({ exp: 0 })],
    ["exp as a string", 401, () => hsToken({ exp: String(now() + 3600) })],
    ["exp not a whole number of seconds but far in the past", 401, () => hsToken({ exp: 1.5 })],
    ["no exp", 401, () => hsToken({ exp: null })],
    ["not before an hour from now", 401, () => hsToken({ claims: { nbf: now() + 3600 } })],
    ["another audience", 401, () => hsToken({ aud: "someone-else" })],
    ["no audience", 401, () => hsToken({ aud: null })],
    ["audience array without ours", 401, () => hsToken({ aud: ["a", "b"] })],
    ["audience differing in case", 401, () => hsToken({ aud: AUD.toUpperCase() })],
    ["another issuer", 401, () => hsToken({ iss: "https://evil.test" })],
    ["no issuer", 401, () => hsToken({ iss: null })],
    ["issuer with a trailing slash", 401, () => hsToken({ iss: `${ISS}/` })],
    ["no sub", 401, () => hsToken({ sub: null })],
    ["empty sub", 401, () => hsToken({ sub: "" })],
    ["sub of 257 characters", 401, () => hsToken({ sub: "u".repeat(257) })],
    ["sub with a newline", 401, () => hsToken({ sub: "ali\nce" })],
    ["sub with NUL", 401, () => hsToken({ sub: "ali\u0000ce" })],
    ["sub with DEL", 401, () => hsToken({ sub: "alice\u007f" })],
    ["sub with an escape sequence", 401, () => hsToken({ sub: "\u001b[31malice" })],
    ["sub with a lone surrogate", 401, () => hsToken({ sub: "a\ud800" })],
    ["sub as a number", 401, () => hsToken({ sub: 123 })],
    ["sub as an object", 401, () => hsToken({ sub: { id: "alice" } })],
    ["alg none, no signature", 401, () => unsignedToken({ alg: "none", typ: "JWT" }, { sub: "alice", exp: now() + 3600, aud: AUD, iss: ISS })],
    ["alg None", 401, () => unsignedToken({ alg: "None" }, { sub: "alice", exp: now() + 3600, aud: AUD, iss: ISS })],
    ["alg NONE with the signature of a good token", 401, async () => {
      const good = (await hsToken()).split(".")[2]!;
      return unsignedToken({ alg: "NONE" }, { sub: "alice", exp: now() + 3600, aud: AUD, iss: ISS }, good);
    }],
    ["alg HS256 and no signature", 401, () => unsignedToken({ alg: "HS256" }, { sub: "alice", exp: now() + 3600, aud: AUD, iss: ISS })],
    ["HS512 with the right secret", 401, () => hsToken({ alg: "HS512" })],
    ["HS384 with the right secret", 401, () => hsToken({ alg: "HS384" })],
    ["an unknown critical header, correctly signed", 401, () => rawHs256(JSON.stringify({ alg: "HS256", crit: ["x-unknown"], "x-unknown": 1 }), JSON.stringify({ sub: "alice", exp: now() + 3600, aud: AUD, iss: ISS }))],
    ["a payload that is not JSON, correctly signed", 401, () => rawHs256(JSON.stringify({ alg: "HS256" }), "not json")],
    ["a JSON array payload, correctly signed", 401, () => rawHs256(JSON.stringify({ alg: "HS256" }), "[]")],
    ["a header that is not JSON, correctly signed", 401, () => rawHs256("{alg", JSON.stringify({ sub: "alice", exp: now() + 3600, aud: AUD, iss: ISS }))],
    ["the signature of another token", 401, async () => {
      const [h, p] = (await hsToken({ sub: "mallory" })).split(".");
      return `${h}.${p}.${(await hsToken()).split(".")[2]}`;
    }],
    ["a payload swapped under a good signature", 401, async () => {
      const [h, , sig] = (await hsToken()).split(".");
      return `${h}.${b64url({ sub: "admin", exp: now() + 3600, aud: AUD, iss: ISS })}.${sig}`;
    }],
    ["a good token with a character added to the payload", 401, async () => {
      const [h, p, sig] = (await hsToken()).split(".");
      return `${h}.${p}A.${sig}`;
    }],
    ["a good token with a byte flipped in the signature", 401, async () => {
      const t = await hsToken();
      return t.slice(0, -2) + (t.at(-2) === "A" ? "B" : "A") + t.at(-1);
    }],
    ["garbage", 401, () => "garbage"],
    ["three empty segments", 401, () => ".."],
    ["a.b.c", 401, () => "a.b.c"],
    ["four segments", 401, async () => `${await hsToken()}.x`],
    ["a JWE-shaped token (five segments)", 401, () => "a.b.c.d.e"],
    ["10 KB of garbage", 401, () => "x".repeat(10_240)],
    ["10 KB token, correctly signed", 401, () => hsToken({ claims: { pad: "p".repeat(10_000) } })],
    ["an empty token", 401, () => ""],
  ];
  test.each(cases)("%s: %d", async (_name, expected, make) => {
    const token = await make();
    if (expected === 101) await expectOpen(hs, token);
    else await expect401(hs, token);
  });

  test.each([
    ["Bearer with nothing after it", "Bearer"],
    ["Bearer and spaces", "Bearer    "],
    ["Basic with the token", "Basic <t>"],
    ["the token with no scheme", "<t>"],
    ["Bearer with two tokens", "Bearer <t> <t>"],
    ["Bearer with a token of another secret", "Bearer <wrong>"],
  ])("Authorization: %s: 401", async (_name, header) => {
    const t = await hsToken();
    const wrong = await hsToken({ secret: "another-secret-0123456789-abcdefghijkl" });
    await expect401(hs, undefined, { authorization: header.replaceAll("<t>", t).replace("<wrong>", wrong) });
  });

  test("Authorization: bearer (any case) with a good token opens the socket", async () => {
    await expectOpen(hs, "unused-query-token", { authorization: `bEaReR ${await hsToken()}` });
  });

  test("a bad Authorization header is not rescued by a good ?token=", async () => {
    await expect401(hs, await hsToken(), { authorization: "Bearer garbage" });
  });
});

describe("JWKS (RS256, ES256) from JWT_JWKS_URL", () => {
  const cases: Case[] = [
    ["RS256 from the key set (control)", 101, () => jwks.sign(rsa, "alice")],
    ["ES256 from the key set (control)", 101, () => jwks.sign(ec, "alice")],
    ["RS256 with a served kid, signed by another key", 401, () => jwks.sign({ ...unserved, kid: rsa.kid }, "alice")],
    ["RS256 with a kid nobody serves", 401, () => jwks.sign(unserved, "alice")],
    ["RS256 without a kid, signed by another key", 401, () => jwks.sign(unserved, "alice", { header: { kid: undefined } })],
    ["PS256, served, but not an allowed algorithm", 401, () => jwks.sign(ps, "alice")],
    ["HS256 signed with the RSA public key PEM as the secret (algorithm confusion)", 401, () =>
      new SignJWT({ sub: "alice", exp: now() + 3600 }).setProtectedHeader({ alg: "HS256", kid: rsa.kid }).sign(new TextEncoder().encode(rsa.publicPem))],
    ["HS256 signed with the RSA modulus as the secret", 401, () =>
      new SignJWT({ sub: "alice", exp: now() + 3600 }).setProtectedHeader({ alg: "HS256", kid: rsa.kid }).sign(new TextEncoder().encode(String(rsa.publicJwk.n)))],
    ["HS256 signed with the test secret, which this gateway does not have", 401, () => hsToken({ aud: null, iss: null })],
    ["ES256 header with the RSA key's kid", 401, () => jwks.sign({ ...ec, kid: rsa.kid }, "alice")],
    ["alg none with a served kid", 401, () => unsignedToken({ alg: "none", kid: rsa.kid }, { sub: "alice", exp: now() + 3600 })],
    ["expired RS256", 401, () => jwks.sign(rsa, "alice", { expiresIn: now() - 60 })],
    ["RS256 without exp", 401, () => jwks.sign(rsa, "alice", { expiresIn: null })],
    ["ES256 without sub", 401, () => jwks.sign(ec, undefined)],
    ["ES256 with a 257-character sub", 401, () => jwks.sign(ec, "e".repeat(257))],
    ["ES256 with a control character in sub", 401, () => jwks.sign(ec, "bob\u0007")],
  ];
  test.each(cases)("%s: %d", async (_name, expected, make) => {
    const token = await make();
    if (expected === 101) await expectOpen(jw, token);
    else await expect401(jw, token);
  });

  test("a token carrying its own key (jwk header) or a key URL (jku, x5u) is not trusted, and that URL is never fetched", async () => {
    await using evil = await JwksServer.start();
    const mallory = await evil.addKey("RS256", { kid: rsa.kid });
    const viaJku = await evil.sign(mallory, "alice", { header: { jku: evil.url } });
    const viaX5u = await evil.sign(mallory, "alice", { header: { x5u: evil.url } as Partial<JWTHeaderParameters> });
    const viaJwk = await evil.sign(mallory, "alice", { header: { jwk: { ...mallory.publicJwk } } });
    for (const t of [viaJku, viaX5u, viaJwk]) {
      await expect401(jw, t);
      await expect401(both, t);
    }
    expect(evil.fetches).toBe(0);
  });

  test("with both JWT_SECRET and JWT_JWKS_URL: HS256 with the secret and RS256/ES256 from the set pass; HS256 keyed with the public PEM does not", async () => {
    await expectOpen(both, await hsToken({ aud: null, iss: null }));
    await expectOpen(both, await jwks.sign(rsa, "alice"));
    await expectOpen(both, await jwks.sign(ec, "alice"));
    const confused = await new SignJWT({ sub: "alice", exp: now() + 3600 }).setProtectedHeader({ alg: "HS256", kid: rsa.kid }).sign(new TextEncoder().encode(rsa.publicPem));
    await expect401(both, confused);
    const ecConfused = await new SignJWT({ sub: "alice", exp: now() + 3600 }).setProtectedHeader({ alg: "HS256", kid: ec.kid }).sign(new TextEncoder().encode(ec.publicPem));
    await expect401(both, ecConfused);
  });
});

describe("JWKS rotation and a misbehaving JWKS endpoint", () => {
  test("after a key rotation, a token with the new (unknown) kid is accepted once the set is refetched, and the retired key is refused", async () => {
    await using set = await JwksServer.start();
    const oldKey = await set.addKey("RS256");
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_JWKS_URL: set.url });
    await expectOpen(gw, await set.sign(oldKey, "rotating"));
    const fetchedBefore = set.fetches;
    const newKey = await set.addKey("ES256", { serve: false });
    set.serve([newKey]);
    const t0 = Date.now();
    const token = await set.sign(newKey, "rotating");
    // A real issuer starts signing with the new key at once; allow the gateway a few seconds to refetch.
    let status = 0;
    await waitFor("the new key accepted", async () => {
      status = (await upgradeStatusOrOpen(gw, token)) ? 101 : 401;
      return status === 101;
    }, 5000 - (Date.now() - t0), 250).catch(() => undefined); // the expectation below says what it got
    expect({ status, fetchedAgain: set.fetches > fetchedBefore }).toEqual({ status: 101, fetchedAgain: true });
    await expect401(gw, await set.sign(oldKey, "rotating"));
  }, 20_000);

  test("a flood of tokens with random kids does not turn into a flood of JWKS fetches", async () => {
    await using set = await JwksServer.start();
    await set.addKey("RS256");
    const stranger = await set.addKey("RS256", { serve: false });
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_JWKS_URL: set.url });
    const before = set.fetches;
    await Promise.all(Array.from({ length: 50 }, async (_, i) => expect401(gw, await set.sign({ ...stranger, kid: `random-${i}-${Math.random()}` }, "x"))));
    expect(set.fetches - before).toBeLessThanOrEqual(3);
    expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
  });

  test.each([
    ["answers 500", "error"],
    ["answers a body that is not JSON", "garbage"],
  ] as const)("a JWKS endpoint that %s gives 401 (not 500), and once it is back tokens pass without a restart", async (_name, mode) => {
    await using set = await JwksServer.start();
    const key = await set.addKey("ES256");
    set.mode = mode;
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_JWKS_URL: set.url });
    await expect401(gw, await set.sign(key, "carol"));
    expect(set.fetches).toBeGreaterThan(0);
    set.mode = "ok";
    await expectOpen(gw, await set.sign(key, "carol"));
  });

  test("a JWKS endpoint that never answers gives 401 within the fetch timeout, and the gateway keeps serving meanwhile", async () => {
    await using set = await JwksServer.start();
    const key = await set.addKey("RS256");
    set.mode = "hang";
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_JWKS_URL: set.url });
    const t0 = Date.now();
    const refused = expect401(gw, await set.sign(key, "dave"));
    await waitFor("the gateway waiting on the JWKS endpoint", () => set.fetches > 0); // it never answers
    expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
    await using echo = await TestSocket.open(`${gw.ws}/ws-chat`);
    echo.send({ content: "meanwhile" });
    expect(await echo.nextJson()).toEqual({ status: "received", data: { content: "meanwhile", type: "text" } });
    await refused;
    expect(Date.now() - t0).toBeLessThan(8000);
  }, 20_000);

  test("an unreachable JWT_JWKS_URL: 401, and the process stays up", async () => {
    const closedPort = await freePort();
    await using set = await JwksServer.start();
    const key = await set.addKey("RS256");
    await using gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_JWKS_URL: `http://127.0.0.1:${closedPort}/jwks.json` });
    await expect401(gw, await set.sign(key, "erin"));
    expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
  });
});

describe("a token that expires while connected", () => {
  async function expiresWhileOpen(gw: ServiceProcess, token: string, exp: number): Promise<void> {
    await using s = await TestSocket.open(`${gw.ws}/notifications?token=${encodeURIComponent(token)}`);
    const code = await s.closed(exp * 1000 - Date.now() + 3000);
    const closedAt = Date.now();
    expect({ code, reason: s.closeReason }).toEqual({ code: 1008, reason: "token expired" });
    expect(closedAt).toBeGreaterThanOrEqual(exp * 1000 - 50); // not before it expired
    expect(closedAt).toBeLessThan(exp * 1000 + 1500); // and promptly after
  }

  test("HS256: closed with 1008 'token expired' when exp passes", async () => {
    const exp = now() + 2;
    await expiresWhileOpen(hs, await hsToken({ exp }), exp);
  });

  test("RS256 from JWKS: closed with 1008 'token expired' when exp passes", async () => {
    const exp = now() + 2;
    await expiresWhileOpen(jw, await jwks.sign(rsa, "frank", { expiresIn: exp }), exp);
  });

  test("other sockets of the same user with longer tokens stay open", async () => {
    const exp = now() + 2;
    await using long = await RawSocket.open(`${hs.ws}/notifications?token=${encodeURIComponent(await hsToken({ sub: "gina" }))}`);
    await expiresWhileOpen(hs, await hsToken({ sub: "gina", exp }), exp);
    // The sweep that closed the short one looked at this one too: had it closed it, the close frame
    // would come before the answer to a ping sent now.
    long.send(Opcode.Ping, "after");
    await long.until(() => long.controlFrames.some((f) => f.opcode === Opcode.Pong && f.payload.toString() === "after") || long.closeFrame !== undefined || long.tcpClosed, "the pong");
    expect({ closeFrame: long.closeFrame, tcpClosed: long.tcpClosed }).toEqual({ closeFrame: undefined, tcpClosed: false });
  });
});

/** True when the upgrade succeeds, false on a refusal. */
async function upgradeStatusOrOpen(gw: ServiceProcess, token: string): Promise<boolean> {
  return (await rawUpgrade(gw.port!, `/notifications?token=${encodeURIComponent(token)}`)).status === 101;
}
