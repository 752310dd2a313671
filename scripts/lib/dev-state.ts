import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { randomSecret } from "./jwt.ts";
import { NATS_ROLES, newNatsPassword, usableNatsPassword, type NatsPasswords } from "./nats-users.ts";

/**
 * What `bun run dev` leaves for the repository's other commands, in `.tmp/dev/` (git-ignored):
 * the URL of the nats-server it started (while it runs), the JWT secret it made up when
 * JWT_SECRET is unset (kept, so tokens stay valid across runs and `bun run token` can sign), the
 * passwords of its nats-server's users (kept too) and the backend user's credentials, for the
 * command-line tools.
 */
export const DEV_STATE_DIR = resolve(import.meta.dir, "../../.tmp/dev");
const NATS_URL_FILE = join(DEV_STATE_DIR, "nats-url");
const SECRET_FILE = join(DEV_STATE_DIR, "jwt-secret");
const NATS_PASSWORDS_FILE = "nats-passwords.json";
const NATS_BACKEND_FILE = "nats-backend.json";

/** The dev run's NATS URL, or undefined when no `bun run dev` is running. */
export function devNatsUrl(): string | undefined {
  return readOrUndefined(NATS_URL_FILE);
}

export function writeDevNatsUrl(url: string): void {
  mkdirSync(DEV_STATE_DIR, { recursive: true });
  writeFileSync(NATS_URL_FILE, `${url}\n`);
}

/** Removes the URL file if it still names `url` (another dev run may have written its own since). */
export function clearDevNatsUrl(url: string): void {
  if (devNatsUrl() === url) rmSync(NATS_URL_FILE, { force: true });
}

/** The dev JWT secret, made (mode 600) on first use. */
export function devJwtSecret(): { secret: string; file: string; created: boolean } {
  const existing = readOrUndefined(SECRET_FILE);
  if (existing !== undefined && Buffer.byteLength(existing) >= 32) return { secret: existing, file: SECRET_FILE, created: false };
  mkdirSync(DEV_STATE_DIR, { recursive: true });
  const secret = randomSecret();
  writeFileSync(SECRET_FILE, `${secret}\n`, { mode: 0o600 });
  chmodSync(SECRET_FILE, 0o600);
  return { secret, file: SECRET_FILE, created: true };
}

/** The dev JWT secret if a dev run made one, without making it. */
export function existingDevJwtSecret(): string | undefined {
  return readOrUndefined(SECRET_FILE);
}

/**
 * The passwords of the dev nats-server's users (deploy/nats/auth.conf), kept in `<dir>/nats-passwords.json`
 * (mode 600) so they stay the same across runs; a missing or unusable one is made anew (`made` names them).
 * Deleting the file rotates them all at the next run.
 */
export function devNatsPasswords(dir = DEV_STATE_DIR): { passwords: NatsPasswords; file: string; made: string[] } {
  const file = join(dir, NATS_PASSWORDS_FILE);
  let stored: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as unknown;
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) stored = parsed as Record<string, unknown>;
  } catch {
    // none yet, or not JSON: all made anew
  }
  const made: string[] = [];
  const passwords = Object.fromEntries(NATS_ROLES.map((role) => {
    const kept = stored[role];
    if (typeof kept === "string" && usableNatsPassword(kept)) return [role, kept];
    made.push(role);
    return [role, newNatsPassword()];
  })) as NatsPasswords;
  if (made.length > 0) writePrivate(file, `${JSON.stringify(passwords, null, 2)}\n`);
  return { passwords, file, made };
}

/** Writes `<dir>/nats-backend.json` (mode 600), `{ "user": "backend", "password": "…" }`: what the command-line tools connect with. */
export function writeDevNatsBackend(password: string, dir = DEV_STATE_DIR): string {
  const file = join(dir, NATS_BACKEND_FILE);
  writePrivate(file, `${JSON.stringify({ user: "backend", password })}\n`);
  return file;
}

/** The backend user's credentials a dev run wrote, if any. */
export function devNatsBackend(dir = DEV_STATE_DIR): { user: string; password: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, NATS_BACKEND_FILE), "utf8")) as { user?: unknown; password?: unknown };
    return typeof parsed.user === "string" && typeof parsed.password === "string" ? { user: parsed.user, password: parsed.password } : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `text` to `file` readable by its owner only (its folder made if needed). */
function writePrivate(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function readOrUndefined(file: string): string | undefined {
  try {
    const text = readFileSync(file, "utf8").trim();
    return text === "" ? undefined : text;
  } catch {
    return undefined;
  }
}
