import { dirname, relative, resolve } from "node:path";

/** The shipped users and permissions (deploy/nats/auth.conf): every nats-server the tests start runs with it. */
export const NATS_AUTH_CONF = resolve(import.meta.dir, "../../../deploy/nats/auth.conf");

/** The roles of deploy/nats/auth.conf. */
export type NatsRole = "gateway" | "notifier" | "metrics" | "backend" | "admin";

/** The tests' passwords for the shipped users (fixed: the servers and services the tests start are their own). */
export const TEST_NATS_PASSWORDS: Record<NatsRole, string> = {
  gateway: "test-gateway-password",
  notifier: "test-notifier-password",
  metrics: "test-metrics-password",
  backend: "test-backend-password",
  admin: "test-admin-password",
};

/** The environment a nats-server started with auth.conf needs (its users' passwords). */
export function natsServerEnv(): Record<string, string> {
  return {
    NATS_GATEWAY_PASSWORD: TEST_NATS_PASSWORDS.gateway,
    NATS_NOTIFIER_PASSWORD: TEST_NATS_PASSWORDS.notifier,
    NATS_METRICS_PASSWORD: TEST_NATS_PASSWORDS.metrics,
    NATS_BACKEND_PASSWORD: TEST_NATS_PASSWORDS.backend,
    NATS_ADMIN_PASSWORD: TEST_NATS_PASSWORDS.admin,
  };
}

/** Connection options (nats.js `user`/`pass`) of a role: `connect({ ...natsAs("admin"), servers })`. */
export function natsAs(role: NatsRole): { user: string; pass: string } {
  return { user: role, pass: TEST_NATS_PASSWORDS[role] };
}

/** The admin user: the tests' own connections (inspecting streams, injecting faults) use it. */
export const NATS_ADMIN = natsAs("admin");

/** A service's environment for its role (NATS_USER, NATS_PASSWORD). */
export function serviceNatsEnv(role: NatsRole): Record<string, string> {
  return { NATS_USER: role, NATS_PASSWORD: TEST_NATS_PASSWORDS[role] };
}

/** How a config file at `confPath` includes auth.conf: nats-server resolves an include against the including file's folder, even an absolute one. */
export function includePath(confPath: string): string {
  return relative(dirname(confPath), NATS_AUTH_CONF);
}
