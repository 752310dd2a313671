import { MAX_REQUEST_BYTES } from "@rt/protocol";
import { ConfigError, EnvReader, LOG_LEVELS, readNatsAuth, type LogLevel, type NatsAuth } from "@rt/runtime";

/** Everything the gateway reads from its environment, parsed once at start-up. */
export interface GatewayConfig {
  port: number;
  host: string;
  natsServers: string[];
  /** NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS (secrets: never log them). */
  natsAuth: NatsAuth;
  /** `subscriptionSecret`: SUBSCRIPTION_JWT_SECRET, the HS256 key of subscription tokens when they are not signed as connection tokens. */
  jwt: { secret?: Uint8Array; jwksUrl?: string; issuer?: string; audience?: string; subscriptionSecret?: Uint8Array };
  allowInsecureUserId: boolean;
  allowedOrigins?: Set<string>;
  logLevel: LogLevel;
  maxMessageBytes: number;
  rateLimitPerSec: number;
  rateLimitBurst: number;
  backpressureLimitBytes: number;
  maxConnections: number;
  idleTimeoutSec: number;
  /** How often slow sockets and expired tokens are looked for. */
  sweepIntervalMs: number;
  /** Room publishes held while NATS has not confirmed them (a cut link): bytes and age at most. */
  outbox: { maxBytes: number; maxAgeMs: number };
  /** JETSTREAM_REPLICAS: copies of every stream the gateway creates (the ROOMS stream). */
  replicas: number;
  /** ROOM_HISTORY_SIZE and ROOM_HISTORY_TTL: how much of each room the ROOMS stream keeps. */
  roomHistory: { size: number; ttlMs: number };
  /** DEMO_PAGE=1: the demo page at `/` and its development-only token endpoint (the launcher sets it; never in production). */
  demoPage: boolean;
  /**
   * With DEMO_PAGE=1 only: the notifier's HTTP API that `POST /demo/notify` sends through
   * (DEMO_NOTIFIER_URL) and its bearer token when it has NOTIFIER_TOKENS (DEMO_NOTIFIER_TOKEN).
   */
  demoNotifier?: { url: string; token?: string };
  /** The client protocol (`/connection/websocket`); `pongTimeoutMs` (PONG_TIMEOUT): how long the oldest ping may go unanswered before 3012. */
  protocol: { pingIntervalSec: number; pongTimeoutMs: number; allowAnonymous: boolean; maxConnectionsPerUser: number };
  /** GATEWAY_HEARTBEAT_INTERVAL and GATEWAY_GONE_AFTER: how often this gateway says it is alive, and how long another one may be silent before it counts as gone. */
  cluster: { heartbeatMs: number; goneAfterMs: number };
}

/** Envelope and escaping a frame may add to what it carries (room prefix, notification fields). */
const FRAME_MARGIN = 1024;

/** The largest frame the gateway writes: a room message or echo of MAX_MESSAGE_BYTES, or a notification of the notifier's largest request. */
export const largestFrame = (maxMessageBytes: number): number => Math.max(maxMessageBytes, MAX_REQUEST_BYTES) + FRAME_MARGIN;

export const DEFAULTS = {
  port: 8080,
  host: "0.0.0.0",
  maxMessageBytes: 64 * 1024,
  rateLimitPerSec: 50,
  rateLimitBurst: 100,
  backpressureLimitBytes: 1024 * 1024,
  maxConnections: 100_000,
  idleTimeoutSec: 40,
  sweepIntervalMs: 1000,
  outboxMaxBytes: 8 * 1024 * 1024,
  outboxMaxAgeMs: 30_000,
  roomHistorySize: 100,
  roomHistoryTtlMs: 24 * 3_600_000,
  pingIntervalSec: 25,
  pongTimeoutMs: 10_000,
  heartbeatMs: 5000,
  goneAfterMs: 15_000,
  maxConnectionsPerUser: 1000,
  demoNotifierUrl: "http://127.0.0.1:8081",
} as const;

/** Parses the gateway's configuration; throws ConfigErrors naming every bad variable. */
export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const r = new EnvReader(env);
  const secretText = r.string("JWT_SECRET");
  if (secretText !== undefined && Buffer.byteLength(secretText) < 32) r.fail("JWT_SECRET", "must be at least 32 bytes");
  const jwksUrl = r.string("JWT_JWKS_URL");
  if (jwksUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(jwksUrl)) r.fail("JWT_JWKS_URL", "must be an http(s) URL");
  const allowInsecureUserId = r.flag("ALLOW_INSECURE_USER_ID");
  const allowAnonymous = r.flag("ALLOW_ANONYMOUS");
  if (secretText === undefined && jwksUrl === undefined && !allowInsecureUserId && !allowAnonymous) {
    r.fail("JWT_SECRET", "set JWT_SECRET (32+ bytes) or JWT_JWKS_URL, or ALLOW_INSECURE_USER_ID=1 / ALLOW_ANONYMOUS=1 for development");
  }
  const origins = readOrigins(r);
  const jwt: GatewayConfig["jwt"] = {};
  if (secretText !== undefined) jwt.secret = new TextEncoder().encode(secretText);
  if (jwksUrl !== undefined) jwt.jwksUrl = jwksUrl;
  const issuer = r.string("JWT_ISSUER");
  if (issuer !== undefined) jwt.issuer = issuer;
  const audience = r.string("JWT_AUDIENCE");
  if (audience !== undefined) jwt.audience = audience;
  const subscriptionSecret = r.string("SUBSCRIPTION_JWT_SECRET");
  if (subscriptionSecret !== undefined && Buffer.byteLength(subscriptionSecret) < 32) r.fail("SUBSCRIPTION_JWT_SECRET", "must be at least 32 bytes");
  else if (subscriptionSecret !== undefined) jwt.subscriptionSecret = new TextEncoder().encode(subscriptionSecret);
  const config: GatewayConfig = {
    port: r.port("PORT", DEFAULTS.port),
    host: r.string("HOST", DEFAULTS.host),
    natsServers: r.natsUrl(),
    natsAuth: readNatsAuth(r),
    jwt,
    allowInsecureUserId,
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    maxMessageBytes: r.int("MAX_MESSAGE_BYTES", DEFAULTS.maxMessageBytes, 16, 16 * 1024 * 1024),
    rateLimitPerSec: r.int("RATE_LIMIT_PER_SEC", DEFAULTS.rateLimitPerSec, 0, 1_000_000),
    rateLimitBurst: r.int("RATE_LIMIT_BURST", DEFAULTS.rateLimitBurst, 0, 1_000_000),
    backpressureLimitBytes: r.int("BACKPRESSURE_LIMIT_BYTES", DEFAULTS.backpressureLimitBytes, 1024, 1024 * 1024 * 1024),
    maxConnections: r.int("MAX_CONNECTIONS", DEFAULTS.maxConnections, 1, 10_000_000),
    idleTimeoutSec: r.int("IDLE_TIMEOUT_SEC", DEFAULTS.idleTimeoutSec, 0, 960),
    sweepIntervalMs: r.int("SWEEP_INTERVAL_MS", DEFAULTS.sweepIntervalMs, 10, 10_000),
    outbox: {
      maxBytes: r.int("ROOM_OUTBOX_MAX_BYTES", DEFAULTS.outboxMaxBytes, 1024, 1024 * 1024 * 1024),
      maxAgeMs: r.duration("ROOM_OUTBOX_MAX_AGE", DEFAULTS.outboxMaxAgeMs, 100, 3_600_000),
    },
    replicas: r.int("JETSTREAM_REPLICAS", 1, 1, 5),
    roomHistory: {
      size: r.int("ROOM_HISTORY_SIZE", DEFAULTS.roomHistorySize, 1, 100_000),
      ttlMs: r.duration("ROOM_HISTORY_TTL", DEFAULTS.roomHistoryTtlMs, 1000),
    },
    demoPage: r.flag("DEMO_PAGE"),
    protocol: {
      pingIntervalSec: r.int("PING_INTERVAL_SEC", DEFAULTS.pingIntervalSec, 1, 3600),
      pongTimeoutMs: r.duration("PONG_TIMEOUT", DEFAULTS.pongTimeoutMs, 100, 3_600_000),
      allowAnonymous,
      maxConnectionsPerUser: r.int("MAX_CONNECTIONS_PER_USER", DEFAULTS.maxConnectionsPerUser, 1, 10_000_000),
    },
    cluster: {
      heartbeatMs: r.duration("GATEWAY_HEARTBEAT_INTERVAL", DEFAULTS.heartbeatMs, 50, 3_600_000),
      goneAfterMs: r.duration("GATEWAY_GONE_AFTER", DEFAULTS.goneAfterMs, 100, 3_600_000),
    },
  };
  // One lost heartbeat must not make a live gateway gone.
  if (!r.bad("GATEWAY_HEARTBEAT_INTERVAL") && !r.bad("GATEWAY_GONE_AFTER") && config.cluster.goneAfterMs < 2 * config.cluster.heartbeatMs) {
    r.fail("GATEWAY_GONE_AFTER", `must be at least twice GATEWAY_HEARTBEAT_INTERVAL (${config.cluster.heartbeatMs} ms), got ${config.cluster.goneAfterMs} ms`);
  }
  // A frame must fit under the limit with room to spare (a replay pauses at half of it), or a
  // socket would be closed with 1013 for that one frame on every reconnect: a wedged inbox.
  const minBackpressure = 2 * largestFrame(config.maxMessageBytes);
  if (!r.bad("BACKPRESSURE_LIMIT_BYTES") && config.backpressureLimitBytes < minBackpressure) {
    r.fail("BACKPRESSURE_LIMIT_BYTES", `must be at least ${minBackpressure} (twice the largest frame: MAX_MESSAGE_BYTES or a notification of ${MAX_REQUEST_BYTES} bytes, plus ${FRAME_MARGIN}), got ${config.backpressureLimitBytes}`);
  }
  if (origins !== undefined) config.allowedOrigins = new Set(origins);
  if (config.demoPage) config.demoNotifier = readDemoNotifier(r);
  return r.done(config);
}

/** DEMO_NOTIFIER_URL (an http(s) URL, default the notifier's port on this host) and DEMO_NOTIFIER_TOKEN (optional). */
function readDemoNotifier(r: EnvReader): NonNullable<GatewayConfig["demoNotifier"]> {
  const url = r.string("DEMO_NOTIFIER_URL", DEFAULTS.demoNotifierUrl);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !["http:", "https:"].includes(parsed.protocol) || parsed.hostname === "" || /\s/.test(url)) {
    r.fail("DEMO_NOTIFIER_URL", `must be an http(s) URL such as ${DEFAULTS.demoNotifierUrl}, got ${JSON.stringify(url)}`);
  }
  const token = r.string("DEMO_NOTIFIER_TOKEN");
  return token === undefined ? { url } : { url, token };
}

/**
 * ALLOWED_ORIGINS: a comma list of origins exactly as browsers send them in `Origin`:
 * `scheme://host[:port]`, lower case, no path or trailing slash (`https://app.example.com`).
 * Anything else (`example.com`, `https://example.com/`) would refuse every browser: exit 2.
 */
function readOrigins(r: EnvReader): string[] | undefined {
  const list = r.list("ALLOWED_ORIGINS");
  if (list === undefined) return undefined;
  const bad = list.filter((o) => !isOrigin(o));
  if (list.length === 0) r.fail("ALLOWED_ORIGINS", "is set but names no origin (leave it unset to allow any)");
  else if (bad.length > 0) r.fail("ALLOWED_ORIGINS", `each must be scheme://host[:port] as a browser sends it (e.g. https://app.example.com), got ${bad.map((b) => JSON.stringify(b)).join(", ")}`);
  return list;
}

const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#@]+$/;

/** True for an origin as a browser serializes it: for http(s), exactly what URL.origin gives. */
export function isOrigin(o: string): boolean {
  if (!ORIGIN.test(o)) return false;
  if (!o.startsWith("http://") && !o.startsWith("https://")) return o === o.toLowerCase();
  try {
    return new URL(o).origin === o;
  } catch {
    return false;
  }
}

/** Headers and subject a room message carries across NATS beyond its text. */
const NATS_ENVELOPE = 1024;

/** Throws ConfigError when MAX_MESSAGE_BYTES does not fit the NATS server's `max_payload` (0: not known yet). */
export function checkMaxPayload(maxMessageBytes: number, maxPayload: number): void {
  if (maxPayload > 0 && maxMessageBytes + NATS_ENVELOPE > maxPayload) {
    throw new ConfigError("MAX_MESSAGE_BYTES", `${maxMessageBytes} (+${NATS_ENVELOPE} of envelope) does not fit the NATS server's max_payload of ${maxPayload} bytes; lower it or raise max_payload`);
  }
}
