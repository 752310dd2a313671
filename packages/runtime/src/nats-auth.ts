import { readFileSync } from "node:fs";
import { credsAuthenticator, nkeyAuthenticator, nkeys, type Authenticator } from "@nats-io/transport-node";
import type { EnvReader } from "./env.ts";

/**
 * How a connection proves who it is to NATS, as nats.js connection options: a user and password,
 * a token, or an authenticator (an nkey seed or a `.creds` file, read once at start); none of
 * them: no credentials. Secrets: never log it (`REDACT_PATHS` hides `natsAuth`, `pass`, `token`).
 */
export interface NatsAuth {
  user?: string;
  pass?: string;
  token?: string;
  authenticator?: Authenticator;
}

/** The variables, one way to authenticate each (at most one may be set). */
const METHODS = [
  { label: "NATS_USER/NATS_PASSWORD", vars: ["NATS_USER", "NATS_PASSWORD"] },
  { label: "NATS_TOKEN", vars: ["NATS_TOKEN"] },
  { label: "NATS_CREDS", vars: ["NATS_CREDS"] },
] as const;
const ONE_WAY = "set one way to authenticate to NATS: NATS_USER and NATS_PASSWORD, NATS_TOKEN, or NATS_CREDS";

/**
 * Reads the NATS credentials: NATS_USER + NATS_PASSWORD (both or neither), or NATS_TOKEN, or
 * NATS_CREDS (the path of a `.creds` file with a user JWT and its nkey seed, or of a file holding
 * a bare user nkey seed `SU…`; read and checked now). A half pair, two ways at once, or a file
 * that cannot be read or parsed is recorded as a bad variable (its value never in the message).
 */
export function readNatsAuth(r: EnvReader): NatsAuth {
  const set = METHODS.filter((m) => m.vars.some((v) => r.string(v) !== undefined));
  for (const extra of set.slice(1)) r.fail(extra.vars[0], `cannot be combined with ${set[0]!.label}; ${ONE_WAY}`);
  const user = r.string("NATS_USER");
  const pass = r.string("NATS_PASSWORD");
  if (user !== undefined && pass === undefined) r.fail("NATS_PASSWORD", "is required with NATS_USER");
  if (user === undefined && pass !== undefined) r.fail("NATS_USER", "is required with NATS_PASSWORD");
  if (set.length !== 1) return {};
  if (user !== undefined && pass !== undefined) return { user, pass };
  const token = r.string("NATS_TOKEN");
  if (token !== undefined) return { token };
  const path = r.string("NATS_CREDS");
  if (path === undefined) return {};
  const read = readCredsFile(path);
  if (typeof read === "string") {
    r.fail("NATS_CREDS", read);
    return {};
  }
  return { authenticator: read };
}

/** A short description for logs, with no secret in it: `user gateway`, `token`, `NATS_CREDS`, `none`. */
export function describeNatsAuth(auth: NatsAuth): string {
  if (auth.user !== undefined) return `user ${auth.user}`;
  if (auth.token !== undefined) return "token";
  if (auth.authenticator !== undefined) return "NATS_CREDS";
  return "none";
}

/** Blocks of a `.creds` file: `-----BEGIN NATS USER JWT-----` … `------END NATS USER JWT------` (as nats.js parses them). */
const CREDS_BLOCK = /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/gi;

/** The authenticator for a `.creds` or seed file, or why it cannot be used (no secret in the message). */
export function readCredsFile(path: string): Authenticator | string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    return `cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  const text = new TextDecoder().decode(bytes);
  const blocks = [...text.matchAll(CREDS_BLOCK)].map((m) => m[1]!.trim());
  if (blocks.length === 0) {
    const seed = text.trim();
    const bad = userSeedProblem(seed);
    if (bad) return `${JSON.stringify(path)} is neither a .creds file (a user JWT and its nkey seed) nor a user nkey seed (SU…): ${bad}`;
    return nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (blocks.length === 1) {
    // A seed alone, between its BEGIN/END lines (as `nsc` writes it).
    const bad = userSeedProblem(blocks[0]!);
    if (bad) return `${JSON.stringify(path)} is not a .creds file (it needs a NATS USER JWT block and a USER NKEY SEED block) nor a user nkey seed: ${bad}`;
    return nkeyAuthenticator(new TextEncoder().encode(blocks[0]!));
  }
  const [jwt, seed] = blocks as [string, string];
  const claims = jwtClaims(jwt);
  if (!claims) return `${JSON.stringify(path)}: its first block is not a JWT`;
  const bad = userSeedProblem(seed);
  if (bad) return `${JSON.stringify(path)}: its seed block is not usable: ${bad}`;
  const publicKey = nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  if (typeof claims.sub === "string" && claims.sub !== publicKey) return `${JSON.stringify(path)}: the JWT is for ${claims.sub}, the seed is ${publicKey}'s`;
  return credsAuthenticator(bytes);
}

/** Why `seed` is not a user nkey seed, or undefined when it is. */
function userSeedProblem(seed: string): string | undefined {
  if (!/^S[A-Z2-7]{57}$/.test(seed)) return "not an nkey seed (58 characters, S then base32)";
  let publicKey: string;
  try {
    publicKey = nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    return "not a valid nkey seed (bad checksum or prefix)";
  }
  return publicKey.startsWith("U") ? undefined : `a seed of another kind than a user's (its public key starts with ${publicKey[0]}, want U)`;
}

/** The claims of a compact JWT (signature not checked: the server does that), or undefined. */
function jwtClaims(jwt: string): Record<string, unknown> | undefined {
  const parts = jwt.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as unknown;
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
