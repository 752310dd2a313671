// The one JWT check both token kinds use: connection tokens (JwtAuthenticator) and subscription
// tokens agree on what "expired" means, as Centrifugo counts it (exp passed, or nbf not reached).
import { expect, test } from "bun:test";
import { SignJWT } from "jose";
import { TEST_JWT_SECRET } from "@rt/testkit";
import { JwtAuthenticator } from "../../src/auth.ts";
import { JwtKeys } from "../../src/jwt-keys.ts";

const now = () => Math.floor(Date.now() / 1000);
const secret = new TextEncoder().encode(TEST_JWT_SECRET);
const sign = (claims: Record<string, unknown>, key = secret) => new SignJWT({ sub: "alice", exp: now() + 3600, ...claims }).setProtectedHeader({ alg: "HS256" }).sign(key);

test("a good token is its payload; exp passed or nbf ahead is expired; another key or garbage is invalid", async () => {
  const keys = new JwtKeys({ secret }, undefined, ["exp"]);
  expect(await keys.verify(await sign({ x: 1 }))).toMatchObject({ sub: "alice", x: 1 });
  expect(await keys.verify(await sign({ exp: now() - 1 }))).toBe("expired");
  expect(await keys.verify(await sign({ nbf: now() + 600 }))).toBe("expired");
  expect(await keys.verify(await sign({}, new TextEncoder().encode("another-secret-0123456789-abcdefghijklmn")))).toBe("invalid");
  expect(await keys.verify("not.a.token")).toBe("invalid");
  expect(await keys.verify(await sign({ exp: null }))).toBe("invalid"); // a required claim missing
});

test("a connection token not valid yet (nbf ahead) is expired, as a subscription token is: the SDK gets a new one instead of being closed", async () => {
  const auth = new JwtAuthenticator({ secret }, false);
  expect(await auth.check(await sign({ nbf: now() + 600 }))).toEqual({ ok: false, expired: true });
  expect(await auth.check(await sign({ exp: now() - 1 }))).toEqual({ ok: false, expired: true });
  expect(await auth.check(await sign({ sub: 7 }))).toEqual({ ok: false, expired: false });
  expect(await auth.check(await sign({}))).toMatchObject({ ok: true, principal: { userId: "alice" } });
});
