import { hostname } from "node:os";
import { EnvReader, LOG_LEVELS, readNatsAuth, type LogLevel, type NatsAuth } from "@rt/runtime";

/** Sample every second unless INTERVAL_MS says otherwise. */
export const DEFAULT_INTERVAL_MS = 1000;
/** Shortest interval accepted: below this the service would mostly measure itself. */
export const MIN_INTERVAL_MS = 50;
/** Longest interval accepted: timers treat anything above 2^31-1 ms as 1 ms. */
export const MAX_INTERVAL_MS = 2_147_483_647;

/** Host ids: 1 to 253 printable characters (no control characters, no lone surrogates), as `HostId` in @rt/protocol. */
const HOST_ID_PATTERN = /^[^\p{Cc}\p{Cs}]{1,253}$/u;

/** The metrics service's settings, read once from the environment at start. */
export interface MetricsConfig {
  /** NATS servers to connect to. */
  natsUrl: string[];
  /** NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS (secrets: never log them). */
  natsAuth: NatsAuth;
  /** Milliseconds between samples. */
  intervalMs: number;
  /** The host name every sample carries (and its subject encodes). */
  hostId: string;
  /** Port for /healthz and /readyz; undefined: no HTTP server. */
  port: number | undefined;
  logLevel: LogLevel;
}

/** Reads the configuration, throwing ConfigError (naming the variable) on the first bad value. */
export function loadConfig(env: Record<string, string | undefined> = process.env): MetricsConfig {
  const reader = new EnvReader(env);
  return reader.done({
    natsUrl: reader.natsUrl(),
    natsAuth: readNatsAuth(reader),
    intervalMs: reader.int("INTERVAL_MS", DEFAULT_INTERVAL_MS, MIN_INTERVAL_MS, MAX_INTERVAL_MS),
    hostId: readHostId(reader),
    port: reader.optionalPort("PORT"),
    logLevel: reader.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
  });
}

function readHostId(reader: EnvReader): string {
  const hostId = reader.string("HOST_ID", hostname());
  if (!HOST_ID_PATTERN.test(hostId)) {
    const what = reader.string("HOST_ID") === undefined ? `the hostname ${JSON.stringify(hostId)} is not usable; set HOST_ID` : `must be 1 to 253 printable characters`;
    reader.fail("HOST_ID", what);
  }
  return hostId;
}
