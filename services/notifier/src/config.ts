import { DEFAULT_MAX_MESSAGE_BYTES, MAX_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES, NOTIFICATIONS_MAX_MSG_SIZE, type ChannelNamespaces } from "@rt/protocol";
import { EnvReader, LOG_LEVELS, readChannelsFile, readNatsAuth, type LogLevel, type NatsAuth } from "@rt/runtime";

export const DEFAULT_PORT = 8081;
/** How long a repeated `idempotency_key` is recognised (the stream's duplicate_window). */
export const DEFAULT_DEDUP_WINDOW_MS = 3_600_000;
/** How long a notification stays in the stream. */
export const DEFAULT_MAX_AGE_MS = 7 * 86_400_000;
/** How many notifications the stream keeps per user (older ones are discarded). */
export const DEFAULT_MAX_PER_USER = 1000;
/** How many bytes the stream keeps for every user together (past it the oldest notifications go). */
export const DEFAULT_MAX_BYTES = 1024 ** 3;
/** The stream must hold a few of its largest notifications, or one would push out everything else. */
const MIN_MAX_BYTES = 2 * NOTIFICATIONS_MAX_MSG_SIZE;
/** Smallest duplicate window JetStream accepts is 100 ms; below a second is never useful here. */
const MIN_WINDOW_MS = 1000;

/** The notifier's settings, read once from the environment at start. */
export interface NotifierConfig {
  port: number;
  host: string;
  /** REUSE_PORT (0): 1 lets several notifier processes share PORT (each must set it); otherwise a taken port is exit 2. */
  reusePort: boolean;
  natsUrl: string[];
  /** NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS (secrets: never log them). */
  natsAuth: NatsAuth;
  /** Bearer tokens allowed to publish over HTTP; undefined: open (logged as a warning). */
  tokens: string[] | undefined;
  dedupWindowMs: number;
  maxAgeMs: number;
  maxPerUser: number;
  /** NOTIFICATIONS_MAX_BYTES: the stream's `max_bytes`, every user's inbox together. */
  maxBytes: number;
  /** JETSTREAM_REPLICAS: copies of every stream this service creates. */
  replicas: number;
  /**
   * MAX_MESSAGE_BYTES: the largest `data` (as JSON) of a server API publication. The gateways read
   * the same variable (their frame limit, and what they relay): give both the same value.
   */
  maxMessageBytes: number;
  /** CHANNELS_FILE: the namespaces the server API publishes into (the gateways read the same file). */
  channels: ChannelNamespaces;
  logLevel: LogLevel;
}

/**
 * What the built-in `chat` keeps, as far as the notifier is concerned: only whether it keeps
 * history matters here (it always does; the gateways size the ROOMS stream from ROOM_HISTORY_SIZE
 * and ROOM_HISTORY_TTL).
 */
const BUILT_IN_CHAT_HISTORY = { size: 100, ttlMs: 86_400_000 };

/** Reads the configuration, throwing ConfigError (naming the variable) on the first bad value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): NotifierConfig {
  const reader = new EnvReader(env);
  const config: NotifierConfig = {
    port: reader.port("PORT", DEFAULT_PORT),
    host: reader.string("HOST", "0.0.0.0"),
    reusePort: reader.flag("REUSE_PORT"),
    natsUrl: reader.natsUrl(),
    natsAuth: readNatsAuth(reader),
    tokens: readTokens(reader),
    dedupWindowMs: reader.duration("NOTIFIER_DEDUP_WINDOW", DEFAULT_DEDUP_WINDOW_MS, MIN_WINDOW_MS),
    maxAgeMs: reader.duration("NOTIFICATIONS_MAX_AGE", DEFAULT_MAX_AGE_MS, MIN_WINDOW_MS),
    maxPerUser: reader.int("NOTIFICATIONS_MAX_PER_USER", DEFAULT_MAX_PER_USER, 1, 1_000_000_000),
    maxBytes: reader.int("NOTIFICATIONS_MAX_BYTES", DEFAULT_MAX_BYTES, MIN_MAX_BYTES, 2 ** 50),
    replicas: reader.int("JETSTREAM_REPLICAS", 1, 1, 5),
    maxMessageBytes: reader.int("MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES, MIN_MAX_MESSAGE_BYTES, MAX_MAX_MESSAGE_BYTES),
    channels: readChannelsFile(reader, BUILT_IN_CHAT_HISTORY),
    logLevel: reader.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
  };
  // JetStream refuses a duplicate window longer than the stream's max age.
  if (!reader.bad("NOTIFIER_DEDUP_WINDOW") && !reader.bad("NOTIFICATIONS_MAX_AGE") && config.dedupWindowMs > config.maxAgeMs) {
    reader.fail("NOTIFIER_DEDUP_WINDOW", `must not exceed NOTIFICATIONS_MAX_AGE (${config.maxAgeMs} ms), got ${config.dedupWindowMs} ms`);
  }
  return reader.done(config);
}

function readTokens(reader: EnvReader): string[] | undefined {
  const tokens = reader.list("NOTIFIER_TOKENS");
  if (tokens !== undefined && tokens.length === 0) reader.fail("NOTIFIER_TOKENS", "is set but names no token");
  return tokens;
}
