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
  /** NATS_URL: an existing server to use instead of starting one. */
  natsUrl: string | undefined;
  /** JWT_SECRET passed to the gateways; undefined means "make one up for this run". */
  jwtSecret: string | undefined;
  /** NATS_SERVER_BIN: the nats-server binary to use; when set, PATH and /usr/sbin are not searched. */
  natsServerBin: string | undefined;
  /** DEV_READY_TIMEOUT_MS (30000): how long everything may take to answer /readyz. */
  readyTimeoutMs: number;
}

/** A bad value: the launcher prints one line naming the variable and exits 2 (as the services do). */
export class DevConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "DevConfigError";
  }
}

type Env = Record<string, string | undefined>;

export const DEFAULT_GATEWAY_PORT = 8080;
export const DEFAULT_NOTIFIER_PORT = 8081;
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
const MAX_GATEWAYS = 64;

/** Reads the launcher's variables; throws DevConfigError on the first bad one. */
export function readDevConfig(env: Env): DevConfig {
  const gatewayPort = int(env, "GATEWAY_PORT", DEFAULT_GATEWAY_PORT, 1, 65535);
  const notifierPort = int(env, "NOTIFIER_PORT", DEFAULT_NOTIFIER_PORT, 1, 65535);
  if (gatewayPort === notifierPort) throw new DevConfigError("NOTIFIER_PORT", `must differ from GATEWAY_PORT (both ${gatewayPort})`);
  return {
    gateways: int(env, "GATEWAYS", 1, 1, MAX_GATEWAYS),
    gatewayPort,
    notifierPort,
    logLevel: str(env, "LOG_LEVEL") ?? "info",
    natsUrl: str(env, "NATS_URL"),
    jwtSecret: str(env, "JWT_SECRET"),
    natsServerBin: str(env, "NATS_SERVER_BIN"),
    readyTimeoutMs: int(env, "DEV_READY_TIMEOUT_MS", DEFAULT_READY_TIMEOUT_MS, 100, 600_000),
  };
}

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name)?.trim();
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new DevConfigError(name, `must be a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new DevConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}
