import { DEFAULT_MAX_MESSAGE_BYTES, MAX_LIVE_NOTIFICATION_BYTES, MAX_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES, maxStoredPublicationBytes, roomMaxMessageSize, type ChannelNamespaces } from "@rt/protocol";
import { ConfigError, EnvReader, LOG_LEVELS, readChannelsFile, readNatsAuth, type LogLevel, type NatsAuth } from "@rt/runtime";

/** Everything the gateway reads from its environment, parsed once at start-up. */
export interface GatewayConfig {
  port: number;
  host: string;
  /** REUSE_PORT (0): 1 lets several gateway processes share PORT (each must set it); otherwise a taken port is exit 2. */
  reusePort: boolean;
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
  /** ROOM_HISTORY_SIZE and ROOM_HISTORY_TTL: how much of each room the ROOMS stream keeps (unless CHANNELS_FILE's `chat` says); ROOMS_MAX_BYTES: how much of all rooms together. */
  roomHistory: { size: number; ttlMs: number; maxBytes: number };
  /** CHANNELS_FILE: the namespaces served (without it, the built-in `chat`). */
  channels: ChannelNamespaces;
  /** CHANNELS_MAX_BYTES: the `max_bytes` of each stream of a namespace with history other than `chat` (every channel of it together). */
  namespaceMaxBytes: number;
  /**
   * CHANNEL_CREATE_RATE_PER_MIN and CHANNEL_CREATE_BURST: how many rooms one user (or one client
   * address, for anonymous clients and `/chat/` sockets) may create on this gateway (0: no limit).
   */
  channelCreate: { perMin: number; burst: number };
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
  /** Decisions handed to backends over NATS (docs/proxy.md). */
  proxy: ProxyConfig;
}

/** PROXY_TIMEOUT, PROXY_CONNECT, PROXY_REFRESH and PROXY_HTTP_HEADERS. */
export interface ProxyConfig {
  /** PROXY_TIMEOUT: how long any proxy request (RPC included) waits for a backend's answer. */
  timeoutMs: number;
  /** PROXY_CONNECT=1: a connect without a token is decided by `proxy.connect`. */
  connect: boolean;
  /** PROXY_REFRESH=1: a connection whose connect answer set `expire_at` is refreshed through `proxy.refresh`. */
  refresh: boolean;
  /** PROXY_HTTP_HEADERS: the upgrade request's headers `proxy.connect` carries, lower case, each once. */
  httpHeaders: string[];
}

/** The largest `max_bytes` a stream may be given here (1 PiB). */
const MAX_STREAM_BYTES = 2 ** 50;

/** What a frame adds to the publication it carries: the push envelope, its channel (`#<user>`: up to 1,025 bytes) and offset. */
const FRAME_MARGIN = 2048;

/** The largest frame the gateway writes: a room publication or a notification as large as the gateways relay, in its push envelope. */
export const largestFrame = (maxMessageBytes: number): number => Math.max(maxStoredPublicationBytes(maxMessageBytes), MAX_LIVE_NOTIFICATION_BYTES) + FRAME_MARGIN;

export const DEFAULTS = {
  port: 8080,
  host: "0.0.0.0",
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
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
  roomsMaxBytes: 1024 ** 3,
  namespaceMaxBytes: 256 * 1024 ** 2,
  channelCreatePerMin: 60,
  channelCreateBurst: 60,
  pingIntervalSec: 25,
  pongTimeoutMs: 10_000,
  heartbeatMs: 5000,
  goneAfterMs: 15_000,
  maxConnectionsPerUser: 1000,
  demoNotifierUrl: "http://127.0.0.1:8081",
  proxyTimeoutMs: 1000,
} as const;

/** PROXY_TIMEOUT's bounds: a backend gets at least this long, and a client never waits longer. */
const PROXY_TIMEOUT_MS = { min: 10, max: 60_000 } as const;

/** Parses the gateway's configuration; throws ConfigErrors naming every bad variable. */
export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const r = new EnvReader(env);
  const secretText = r.string("JWT_SECRET");
  if (secretText !== undefined && Buffer.byteLength(secretText) < 32) r.fail("JWT_SECRET", "must be at least 32 bytes");
  const jwksUrl = r.string("JWT_JWKS_URL");
  if (jwksUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(jwksUrl)) r.fail("JWT_JWKS_URL", "must be an http(s) URL");
  const allowInsecureUserId = r.flag("ALLOW_INSECURE_USER_ID");
  const allowAnonymous = r.flag("ALLOW_ANONYMOUS");
  const proxy = readProxy(r);
  if (secretText === undefined && jwksUrl === undefined && !allowInsecureUserId && !allowAnonymous && !proxy.connect) {
    r.fail("JWT_SECRET", "set JWT_SECRET (32+ bytes) or JWT_JWKS_URL, or PROXY_CONNECT=1 (a backend authenticates connections), or ALLOW_INSECURE_USER_ID=1 / ALLOW_ANONYMOUS=1 for development");
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
  const roomHistory = {
    size: r.int("ROOM_HISTORY_SIZE", DEFAULTS.roomHistorySize, 1, 100_000),
    ttlMs: r.duration("ROOM_HISTORY_TTL", DEFAULTS.roomHistoryTtlMs, 1000),
    maxBytes: r.int("ROOMS_MAX_BYTES", DEFAULTS.roomsMaxBytes, 1, MAX_STREAM_BYTES),
  };
  const config: GatewayConfig = {
    port: r.port("PORT", DEFAULTS.port),
    host: r.string("HOST", DEFAULTS.host),
    reusePort: r.flag("REUSE_PORT"),
    natsServers: r.natsUrl(),
    natsAuth: readNatsAuth(r),
    jwt,
    allowInsecureUserId,
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    maxMessageBytes: r.int("MAX_MESSAGE_BYTES", DEFAULTS.maxMessageBytes, MIN_MAX_MESSAGE_BYTES, MAX_MAX_MESSAGE_BYTES),
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
    roomHistory,
    // The built-in `chat` (when the file has none) keeps ROOM_HISTORY_SIZE for ROOM_HISTORY_TTL.
    channels: readChannelsFile(r, { size: roomHistory.size, ttlMs: roomHistory.ttlMs }),
    namespaceMaxBytes: r.int("CHANNELS_MAX_BYTES", DEFAULTS.namespaceMaxBytes, 1, MAX_STREAM_BYTES),
    channelCreate: {
      perMin: r.int("CHANNEL_CREATE_RATE_PER_MIN", DEFAULTS.channelCreatePerMin, 0, 1_000_000),
      burst: r.int("CHANNEL_CREATE_BURST", DEFAULTS.channelCreateBurst, 1, 1_000_000),
    },
    demoPage: r.flag("DEMO_PAGE"),
    protocol: {
      pingIntervalSec: r.int("PING_INTERVAL_SEC", DEFAULTS.pingIntervalSec, 1, 3600),
      pongTimeoutMs: r.duration("PONG_TIMEOUT", DEFAULTS.pongTimeoutMs, 100, 3_600_000),
      allowAnonymous,
      maxConnectionsPerUser: r.int("MAX_CONNECTIONS_PER_USER", DEFAULTS.maxConnectionsPerUser, 1, 10_000_000),
    },
    proxy,
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
    r.fail("BACKPRESSURE_LIMIT_BYTES", `must be at least ${minBackpressure} (twice the largest frame: a publication of MAX_MESSAGE_BYTES or a notification of ${MAX_LIVE_NOTIFICATION_BYTES} bytes, plus its envelope), got ${config.backpressureLimitBytes}`);
  }
  // The stream must hold a few of its largest messages, or one of them would push out everything else.
  const largestRoomMessage = roomMaxMessageSize(config.maxMessageBytes);
  if (!r.bad("ROOMS_MAX_BYTES") && !r.bad("MAX_MESSAGE_BYTES") && config.roomHistory.maxBytes < 2 * largestRoomMessage) {
    r.fail("ROOMS_MAX_BYTES", `must be at least ${2 * largestRoomMessage} (twice the largest room message: MAX_MESSAGE_BYTES plus ${largestRoomMessage - config.maxMessageBytes} of envelope and headers), got ${config.roomHistory.maxBytes}`);
  }
  if (!r.bad("CHANNELS_MAX_BYTES") && !r.bad("MAX_MESSAGE_BYTES") && config.namespaceMaxBytes < 2 * largestRoomMessage) {
    r.fail("CHANNELS_MAX_BYTES", `must be at least ${2 * largestRoomMessage} (twice the largest message: MAX_MESSAGE_BYTES plus ${largestRoomMessage - config.maxMessageBytes} of envelope and headers), got ${config.namespaceMaxBytes}`);
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

/** A header name as HTTP allows it (RFC 9110 `token`). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * PROXY_TIMEOUT (a duration, 10ms-60s, default 1s), PROXY_CONNECT and PROXY_REFRESH (flags), and
 * PROXY_HTTP_HEADERS (a comma list of header names, any case; kept lower case, each once).
 */
function readProxy(r: EnvReader): ProxyConfig {
  const names = r.list("PROXY_HTTP_HEADERS") ?? [];
  const bad = names.filter((n) => !HEADER_NAME.test(n));
  if (bad.length > 0) r.fail("PROXY_HTTP_HEADERS", `must be a comma list of header names (e.g. cookie,authorization,x-real-ip), got ${bad.map((b) => JSON.stringify(b)).join(", ")}`);
  return {
    timeoutMs: r.duration("PROXY_TIMEOUT", DEFAULTS.proxyTimeoutMs, PROXY_TIMEOUT_MS.min, PROXY_TIMEOUT_MS.max),
    connect: r.flag("PROXY_CONNECT"),
    refresh: r.flag("PROXY_REFRESH"),
    httpHeaders: [...new Set(names.map((n) => n.toLowerCase()))],
  };
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

/** Throws ConfigError when the largest room message (roomMaxMessageSize: MAX_MESSAGE_BYTES, its envelope and headers) does not fit the NATS server's `max_payload` (0: not known yet). */
export function checkMaxPayload(maxMessageBytes: number, maxPayload: number): void {
  const largest = roomMaxMessageSize(maxMessageBytes);
  if (maxPayload > 0 && largest > maxPayload) {
    throw new ConfigError("MAX_MESSAGE_BYTES", `${maxMessageBytes} (+${largest - maxMessageBytes} of envelope and headers) does not fit the NATS server's max_payload of ${maxPayload} bytes; lower it or raise max_payload`);
  }
}
