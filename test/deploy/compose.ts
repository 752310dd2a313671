// compose.yaml as docker-compose sees it, without Docker: Debian's docker-compose 1.29 when it is on
// PATH (`config` only, nothing is started).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "../..");

/** docker-compose, or null where it is not installed (the tests that need it are skipped). */
export const DOCKER_COMPOSE = Bun.which("docker-compose");

/** Dummy values for every variable compose.yaml requires (what .env holds in a deployment; .ci/run uses the same). */
export const COMPOSE_REQUIRED_ENV = {
  JWT_SECRET: "ci-dummy-secret-0123456789abcdefghij",
  NOTIFIER_TOKENS: "ci-dummy-token",
  NATS_GATEWAY_PASSWORD: "ciGatewayPassword",
  NATS_NOTIFIER_PASSWORD: "ciNotifierPassword",
  NATS_METRICS_PASSWORD: "ciMetricsPassword",
  NATS_BACKEND_PASSWORD: "ciBackendPassword",
  NATS_ADMIN_PASSWORD: "ciAdminPassword",
} as const;

/**
 * Runs docker-compose in the repository root with `env` as the whole of compose's variables (the
 * caller's environment minus anything compose reads, so no .env or setting of this machine counts):
 * `--env-file` points at an empty file unless `envFile` is given.
 */
export function compose(args: string[], env: Record<string, string>, envFile?: string): { exitCode: number; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "rt-compose-"));
  try {
    // An empty env file in place of a .env this clone may have (docker-compose 1.29 refuses /dev/null).
    const file = envFile ?? join(dir, "empty.env");
    if (envFile === undefined) writeFileSync(file, "");
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !COMPOSE_VARIABLE.test(k)) base[k] = v;
    const proc = Bun.spawnSync([DOCKER_COMPOSE!, "--env-file", file, ...args], { cwd: ROOT, env: { ...base, ...env }, stdout: "pipe", stderr: "pipe" });
    return { exitCode: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The variables compose.yaml and compose.cluster.yaml interpolate (kept out of the caller's environment). */
const COMPOSE_VARIABLE = /^(JWT_|NOTIFIER_|NATS_|GATEWAY_|PROMETHEUS_|GRAFANA_|LOG_LEVEL$|HOST_ID$|INTERVAL_MS$|ALLOWED_ORIGINS$|MAX_MESSAGE_BYTES$|CHANNELS_FILE$|COMPOSE_)/;
