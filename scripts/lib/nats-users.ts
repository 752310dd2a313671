import { randomBytes } from "node:crypto";

/**
 * The users of deploy/nats/auth.conf (docs/nats-security.md), as `bun run dev` hands them out:
 * which variable gives nats-server each password, and what a service is told.
 */

/** One user per service, one for backends in any language, one for operators. */
export const NATS_ROLES = ["gateway", "notifier", "metrics", "backend", "admin"] as const;
export type NatsRole = (typeof NATS_ROLES)[number];
export type NatsPasswords = Record<NatsRole, string>;

/** The variables a service reads its NATS credentials from (one way at most: @rt/runtime). */
export const NATS_CREDENTIAL_VARS = ["NATS_USER", "NATS_PASSWORD", "NATS_TOKEN", "NATS_CREDS"] as const;

/** The variable of nats-server's environment auth.conf takes `role`'s password from: NATS_GATEWAY_PASSWORD. */
export function passwordVar(role: NatsRole): string {
  return `NATS_${role.toUpperCase()}_PASSWORD`;
}

/** Every role's password variable: what a nats-server started with auth.conf needs. */
export function natsServerPasswordEnv(passwords: NatsPasswords): Record<string, string> {
  return Object.fromEntries(NATS_ROLES.map((role) => [passwordVar(role), passwords[role]]));
}

/** What a service connecting as `role` is told: NATS_USER and NATS_PASSWORD. */
export function serviceCredentials(role: NatsRole, passwords: NatsPasswords): { NATS_USER: string; NATS_PASSWORD: string } {
  return { NATS_USER: role, NATS_PASSWORD: passwords[role] };
}

/**
 * nats-server parses a password taken from its environment as a config value: `1234` or `3k` turn
 * into numbers, `true` into a bool, `12e4ab` fails to parse, and the server refuses to start. A
 * letter followed by letters and digits is always read as the string it is (and needs no escaping
 * in a URL).
 */
const USABLE_PASSWORD = /^[A-Za-z][A-Za-z0-9]{15,}$/;

/** True when `password` is one nats-server reads back as itself from its environment (see USABLE_PASSWORD), 16+ characters. */
export function usableNatsPassword(password: string): boolean {
  return USABLE_PASSWORD.test(password);
}

/** A fresh password: `p` and 48 hex digits (192 random bits). */
export function newNatsPassword(): string {
  return `p${randomBytes(24).toString("hex")}`;
}

/** `url` (nats://host:port) with `user` and `password` in it: nats://user:password@host:port, as Go's, Python's and the nats CLI's clients take it. */
export function urlWithCredentials(url: string, user: string, password: string): string {
  return url.replace(/^([a-z]+:\/\/)(?:[^@/]*@)?/i, `$1${encodeURIComponent(user)}:${encodeURIComponent(password)}@`);
}
