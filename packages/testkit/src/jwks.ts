import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTHeaderParameters } from "jose";

/** Asymmetric algorithms a JWKS key may use here (the gateway takes RS256 and ES256; the others are for refusals). */
export type JwksAlg = "RS256" | "ES256" | "PS256" | "ES384" | "RS512";

/** One signing key: the private half stays in the test, the public half is served. */
export interface JwksKey {
  kid: string;
  alg: JwksAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** The public key as an SPKI PEM (for algorithm-confusion attempts). */
  publicPem: string;
}

/** Options for signing a token with a JWKS key. */
export interface JwksSignOptions {
  /** Seconds since the epoch, or a jose duration ("1h"); null leaves `exp` out. */
  expiresIn?: string | number | null;
  claims?: Record<string, unknown>;
  /** Header fields to add or override (`kid` defaults to the key's, `alg` to the key's). */
  header?: Partial<JWTHeaderParameters>;
}

let counter = 0;

/** How the JWKS endpoint answers: the key set, 500, a body that is not JSON, or never. */
export type JwksMode = "ok" | "error" | "garbage" | "hang";

/**
 * A local JWKS endpoint (`http://127.0.0.1:port/jwks.json`) with RS256 / ES256 keys made by jose.
 * `serve()` swaps the published key set (rotation), `fetches` counts GETs, `mode` breaks it on purpose.
 */
export class JwksServer implements AsyncDisposable {
  /** GETs of the key set so far. */
  fetches = 0;
  /** How the endpoint answers now. */
  mode: JwksMode = "ok";
  private served: JwksKey[] = [];
  private constructor(private readonly server: ReturnType<typeof Bun.serve>) {}

  static start(): Promise<JwksServer> {
    let self: JwksServer | undefined;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path !== "/jwks.json" || !self) return new Response("not found", { status: 404 });
        self.fetches++;
        if (self.mode === "error") return new Response("unavailable", { status: 500 });
        if (self.mode === "garbage") return new Response("{not json", { headers: { "content-type": "application/json" } });
        if (self.mode === "hang") return new Promise<Response>(() => undefined);
        return Response.json({ keys: self.served.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: "sig" })) });
      },
    });
    self = new JwksServer(server);
    return Promise.resolve(self);
  }

  /** http://127.0.0.1:port/jwks.json */
  get url(): string {
    return `http://127.0.0.1:${this.server.port}/jwks.json`;
  }

  /** Makes a new key pair; it is served too unless `serve` is false. */
  async addKey(alg: JwksAlg, opts: { kid?: string; serve?: boolean } = {}): Promise<JwksKey> {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const key: JwksKey = {
      kid: opts.kid ?? `${alg.toLowerCase()}-${process.pid}-${++counter}`,
      alg,
      privateKey,
      publicJwk: await exportJWK(publicKey),
      publicPem: await exportSPKI(publicKey),
    };
    if (opts.serve ?? true) this.served.push(key);
    return key;
  }

  /** Replaces the published key set (a rotation). */
  serve(keys: JwksKey[]): void {
    this.served = [...keys];
  }

  /** Signs a token for `sub` (undefined: no `sub`) with `key`. */
  sign(key: JwksKey, sub: string | undefined, opts: JwksSignOptions = {}): Promise<string> {
    const jwt = new SignJWT({ ...opts.claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...opts.header }).setIssuedAt();
    if (sub !== undefined) jwt.setSubject(sub);
    if (opts.expiresIn !== null) jwt.setExpirationTime(opts.expiresIn ?? "1h");
    return jwt.sign(key.privateKey);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.server.stop(true);
  }
}

/** base64url of a JSON value or a string, for hand-built tokens. */
export function b64url(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value), "utf8").toString("base64url");
}

/** A hand-built JWS compact token: `header.payload.signature` with no signing at all. */
export function unsignedToken(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}
