import { resolve } from "node:path";
import { EnvReader, LOG_LEVELS, logColors, readChannelsFile, readLogFormat, readNatsAuth } from "@rt/runtime";
import { devStateDir } from "../lib/dev-state.ts";

/** The launcher's settings, read once from the environment. */
export interface DevConfig {
  /** How many gateway processes share `gatewayPort` (GATEWAYS, default 1). */
  gateways: number;
  /** GATEWAY_PORT (8080). */
  gatewayPort: number;
  /** NOTIFIER_PORT (8081). */
  notifierPort: number;
  /** LOG_LEVEL passed to every service (info). */
  logLevel: string;
  /**
   * Whether the services log pretty (passed to each as LOG_PRETTY=1 or 0): their stdout is a pipe
   * to the launcher, so this is decided by the launcher's own stdout (a terminal: pretty),
   * unless LOG_PRETTY says otherwise.
   */
  logPretty: boolean;
  /** Whether those pretty logs are coloured (the launcher's stdout is a terminal, or FORCE_COLOR; not with NO_COLOR). */
  logColors: boolean;
  /** DEMO_PAGE (1): passed to the gateways, which then serve the demo page at `/`; 0 turns it off. */
  demoPage: boolean;
  /** NATS_URL: an existing server to use instead of starting one. */
  natsUrl: string | undefined;
  /** JWT_SECRET passed to the gateways; undefined means "make one up for this run". */
  jwtSecret: string | undefined;
  /** NATS_SERVER_BIN: the nats-server binary to use; when set, PATH and /usr/sbin are not searched. */
  natsServerBin: string | undefined;
  /** DEV_READY_TIMEOUT_MS (30000): how long everything may take to answer /readyz. */
  readyTimeoutMs: number;
  /** DEV_STATE_DIR (.tmp/dev at the repository root): the folder of the run's state (scripts/lib/dev-state.ts), absolute. */
  stateDir: string;
  /**
   * CHANNELS_FILE, made absolute from the launcher's working folder (each service runs in its own
   * folder): passed to every gateway and the notifier; checked here first, so a bad file stops the
   * launcher at once with every problem (exit 2). Undefined: the built-in channels.
   */
  channelsFile: string | undefined;
}

type Env = Record<string, string | undefined>;

export const DEFAULT_GATEWAY_PORT = 8080;
export const DEFAULT_NOTIFIER_PORT = 8081;
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
const MAX_GATEWAYS = 64;

/**
 * Reads the launcher's variables; throws ConfigErrors (from @rt/runtime) naming every bad one.
 * `stdoutIsTTY`: whether the launcher's own stdout is a terminal (it decides the services' log format).
 */
export function readDevConfig(env: Env, stdoutIsTTY = false, cwd = process.cwd()): DevConfig {
  const r = new EnvReader(env);
  const logPretty = readLogFormat(r, stdoutIsTTY) === "pretty";
  const gatewayPort = r.port("GATEWAY_PORT", DEFAULT_GATEWAY_PORT, false);
  const notifierPort = r.port("NOTIFIER_PORT", DEFAULT_NOTIFIER_PORT, false);
  if (gatewayPort === notifierPort) r.fail("NOTIFIER_PORT", `must differ from GATEWAY_PORT (both ${gatewayPort})`);
  // Each service gets its own port: a PORT meant for "the" server would be silently ignored.
  if (r.string("PORT") !== undefined) r.fail("PORT", "is not read by bun run dev: set GATEWAY_PORT (gateways, 8080) or NOTIFIER_PORT (notifier, 8081)");
  const natsUrl = r.string("NATS_URL") === undefined ? undefined : r.natsUrl().join(",");
  // With NATS_URL the services get the caller's NATS credentials as they are: checked here as each
  // service would (a half pair, two ways at once, an unreadable NATS_CREDS). Without, they are ignored.
  if (natsUrl !== undefined) readNatsAuth(r);
  const channels = r.string("CHANNELS_FILE");
  const channelsFile = channels === undefined ? undefined : resolve(cwd, channels);
  // Read as the services read it (the history given only sizes the built-in chat, which cannot be wrong).
  readChannelsFile(r, { size: 100, ttlMs: 86_400_000 }, "CHANNELS_FILE", cwd);
  return r.done({
    gateways: r.int("GATEWAYS", 1, 1, MAX_GATEWAYS),
    gatewayPort,
    notifierPort,
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    logPretty,
    logColors: logPretty && logColors(env, stdoutIsTTY),
    demoPage: r.flag("DEMO_PAGE", true),
    // Checked here, as each service would, so a bad value stops the launcher at once (exit 2), not a child later.
    natsUrl,
    jwtSecret: r.string("JWT_SECRET"),
    natsServerBin: r.string("NATS_SERVER_BIN"),
    readyTimeoutMs: r.int("DEV_READY_TIMEOUT_MS", DEFAULT_READY_TIMEOUT_MS, 100, 600_000),
    stateDir: devStateDir(env),
    channelsFile,
  });
}

/**
 * The logging variables every service gets: LOG_LEVEL, LOG_PRETTY=1 or 0, and FORCE_COLOR=1 when
 * the pretty logs should be coloured (a child writing into a pipe would not colour them itself)
 * and the caller's environment (`env`) does not set FORCE_COLOR already.
 */
export function serviceLogEnv(cfg: Pick<DevConfig, "logLevel" | "logPretty" | "logColors">, env: Env): Record<string, string> {
  const vars: Record<string, string> = { LOG_LEVEL: cfg.logLevel, LOG_PRETTY: cfg.logPretty ? "1" : "0" };
  if (cfg.logColors && env.FORCE_COLOR === undefined) vars.FORCE_COLOR = "1";
  return vars;
}
