// NATS credentials from the environment: the combinations, the files NATS_CREDS may name, and that
// no secret reaches an error message or a log line.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { nkeys } from "@nats-io/transport-node";
import pino from "pino";
import { ConfigErrors, EnvReader, REDACT_PATHS, describeNatsAuth, natsAuthOptions, readNatsAuth, type NatsAuth } from "../src/index.ts";
import { accountSeed, credsFile, natsJwt, operatorSetup, tempFiles, userNkey } from "./fixtures/nats-creds.ts";

const { dir, file, remove } = tempFiles("rt-nats-auth-");
afterAll(remove);

/** The credentials read from `env`, or the ConfigErrors (variable and message, each) it gave. */
function read(env: Record<string, string>): NatsAuth | Array<[string, string]> {
  const r = new EnvReader(env);
  const auth = readNatsAuth(r);
  try {
    return r.done(auth);
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return err.errors.map((e) => [e.variable, e.message]);
  }
}
const errorsOf = (env: Record<string, string>) => read(env) as Array<[string, string]>;
const authOf = (env: Record<string, string>) => read(env) as NatsAuth;

/** What the authenticator answers the server's nonce with, and whether the signature is the user's. */
function challenge(auth: NatsAuth): { nkey: string; jwt?: string; signed: boolean } {
  const nonce = "a-nonce-from-the-server";
  const answer = auth.authenticator!(nonce) as { nkey: string; sig: string; jwt?: string };
  const signed = nkeys.fromPublic(answer.nkey).verify(new TextEncoder().encode(nonce), nkeys.decode(answer.sig));
  return { nkey: answer.nkey, jwt: answer.jwt, signed };
}

describe("one way to authenticate, or none", () => {
  test("none: no credentials", () => {
    expect(authOf({})).toEqual({});
    expect(authOf({ NATS_USER: "", NATS_PASSWORD: "", NATS_TOKEN: "", NATS_CREDS: "" })).toEqual({}); // empty is unset, as for every variable
    expect(describeNatsAuth({})).toBe("none");
  });

  test("NATS_USER and NATS_PASSWORD", () => {
    const auth = authOf({ NATS_USER: "gateway", NATS_PASSWORD: "pa ss:w@rd" });
    expect(auth).toEqual({ user: "gateway", pass: "pa ss:w@rd" });
    expect(describeNatsAuth(auth)).toBe("user gateway");
    expect(natsAuthOptions({ ...auth, servers: ["x"] } as NatsAuth)).toEqual({ user: "gateway", pass: "pa ss:w@rd" });
  });

  test("NATS_TOKEN", () => {
    const auth = authOf({ NATS_TOKEN: "s3cr3t-token" });
    expect(auth).toEqual({ token: "s3cr3t-token" });
    expect(describeNatsAuth(auth)).toBe("token");
  });

  test("NATS_CREDS naming a .creds file: the user JWT and a signature by its seed", () => {
    const { creds, userPublicKey } = operatorSetup({ pub: [">"], sub: [">"] });
    const auth = authOf({ NATS_CREDS: file(creds) });
    expect(Object.keys(auth)).toEqual(["authenticator"]);
    expect(describeNatsAuth(auth)).toBe("NATS_CREDS");
    const c = challenge(auth);
    expect(c.nkey).toBe(userPublicKey);
    expect(c.jwt).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(c.signed).toBe(true);
  });

  test("NATS_CREDS naming a bare user nkey seed (with or without a newline, or between BEGIN/END lines)", () => {
    const { seed, publicKey } = userNkey();
    for (const text of [seed, `${seed}\n`, `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`]) {
      const c = challenge(authOf({ NATS_CREDS: file(text) }));
      expect(c).toEqual({ nkey: publicKey, jwt: undefined, signed: true });
    }
  });

  test("the file is read once, at start: a file changed afterwards changes nothing", () => {
    const first = userNkey();
    const path = file(first.seed);
    const auth = authOf({ NATS_CREDS: path });
    writeFileSync(path, userNkey().seed);
    expect(challenge(auth).nkey).toBe(first.publicKey);
  });
});

describe("refused, naming the variable (exit 2 in a service)", () => {
  test.each([
    ["NATS_USER alone", { NATS_USER: "gateway" }, "NATS_PASSWORD", "is required with NATS_USER"],
    ["NATS_PASSWORD alone", { NATS_PASSWORD: "pw-secret" }, "NATS_USER", "is required with NATS_PASSWORD"],
    ["NATS_PASSWORD with an empty NATS_USER", { NATS_USER: "", NATS_PASSWORD: "pw-secret" }, "NATS_USER", "is required with NATS_PASSWORD"],
  ])("a half pair (%s) names %s", (_label, env, variable, message) => {
    expect(errorsOf(env)).toEqual([[variable, `${variable}: ${message}`]]);
  });

  test("two ways at once name the later one; three name both later ones", () => {
    const creds = file(userNkey().seed);
    const [[variable, message]] = errorsOf({ NATS_USER: "u", NATS_PASSWORD: "pw-secret", NATS_TOKEN: "tok-secret" }) as [[string, string]];
    expect(variable).toBe("NATS_TOKEN");
    expect(message).toBe("NATS_TOKEN: cannot be combined with NATS_USER/NATS_PASSWORD; set one way to authenticate to NATS: NATS_USER and NATS_PASSWORD, NATS_TOKEN, or NATS_CREDS");
    expect(errorsOf({ NATS_TOKEN: "tok-secret", NATS_CREDS: creds }).map(([v]) => v)).toEqual(["NATS_CREDS"]);
    expect(errorsOf({ NATS_USER: "u", NATS_PASSWORD: "pw-secret", NATS_TOKEN: "tok-secret", NATS_CREDS: creds }).map(([v]) => v)).toEqual(["NATS_TOKEN", "NATS_CREDS"]);
    // A half pair and a token: both problems, in one run.
    expect(errorsOf({ NATS_PASSWORD: "pw-secret", NATS_TOKEN: "tok-secret" }).map(([v]) => v)).toEqual(["NATS_TOKEN", "NATS_USER"]);
  });

  test("NATS_CREDS that cannot be read", () => {
    const unreadable = file(userNkey().seed);
    chmodSync(unreadable, 0o000);
    const cases: Array<[string, RegExp]> = [
      [join(dir, "missing.creds"), /cannot read ".*missing\.creds": ENOENT/],
      [dir, /cannot read ".*": EISDIR/],
    ];
    if (process.getuid?.() !== 0) cases.push([unreadable, /cannot read ".*": EACCES/]); // root reads anything
    for (const [path, message] of cases) {
      const [[variable, text]] = errorsOf({ NATS_CREDS: path }) as [[string, string]];
      expect(variable).toBe("NATS_CREDS");
      expect(text).toMatch(message);
    }
  });

  test("NATS_CREDS that cannot be parsed: never its content in the message", () => {
    const user = userNkey();
    const { creds } = operatorSetup({ pub: [">"], sub: [">"] });
    const jwtOnly = creds.slice(0, creds.indexOf("*"));
    const otherUser = userNkey();
    const mismatched = credsFile(natsJwt(nkeys.createAccount(), otherUser.publicKey, "x", { type: "user" }), user.seed);
    const broken = `${user.seed.slice(0, 10)}${user.seed[10] === "A" ? "B" : "A"}${user.seed.slice(11)}`; // the checksum no longer matches
    const cases: Array<[string, string, RegExp]> = [
      ["empty", "", /neither a \.creds file .* nor a user nkey seed/],
      ["garbage", "hello world\n", /neither a \.creds file/],
      ["a public key", user.publicKey, /not an nkey seed/],
      ["a seed with a bad checksum", broken, /not a valid nkey seed/],
      ["an account's seed", accountSeed(), /another kind than a user's .* starts with A/],
      ["a JWT block alone", jwtOnly, /not a \.creds file .* nor a user nkey seed/],
      ["a JWT that is not one", credsFile("not.a-jwt", user.seed), /first block is not a JWT/],
      ["a JWT of another user than the seed", mismatched, new RegExp(`the JWT is for ${otherUser.publicKey}, the seed is ${user.publicKey}'s`)],
    ];
    for (const [label, text, message] of cases) {
      const errors = errorsOf({ NATS_CREDS: file(text) });
      expect(errors.map(([v]) => v), label).toEqual(["NATS_CREDS"]);
      expect(errors[0]![1], label).toMatch(message);
      expect(errors[0]![1], label).not.toContain(user.seed.slice(2, 20));
    }
  });

  test("no password or token in any message", () => {
    const env = { NATS_PASSWORD: "pw-secret", NATS_TOKEN: "tok-secret", NATS_CREDS: join(dir, "missing") };
    const text = errorsOf(env).map(([, m]) => m).join("\n");
    expect(text).not.toContain("pw-secret");
    expect(text).not.toContain("tok-secret");
  });
});

test("a config holding credentials is redacted by the services' logger paths", () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => void (lines.push(String(chunk)), done()) });
  const log = pino({ redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, sink);
  log.info({ config: { natsAuth: { user: "gateway", pass: "pw-secret" } } }, "config");
  log.info({ natsAuth: { token: "tok-secret" } }, "top level");
  log.info({ user: "gateway", pass: "pw-secret", auth_token: "tok-secret" }, "nats.js options");
  const out = lines.join("");
  expect(out).not.toContain("pw-secret");
  expect(out).not.toContain("tok-secret");
  expect(out).toContain('"natsAuth":"[redacted]"');
});
