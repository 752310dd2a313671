import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomSecret } from "./jwt.ts";

/**
 * What `bun run dev` leaves for the repository's other commands, in `.tmp/dev/` (git-ignored):
 * the URL of the nats-server it started (while it runs) and the JWT secret it made up when
 * JWT_SECRET is unset (kept, so tokens stay valid across runs and `bun run token` can sign).
 */
export const DEV_STATE_DIR = resolve(import.meta.dir, "../../.tmp/dev");
const NATS_URL_FILE = join(DEV_STATE_DIR, "nats-url");
const SECRET_FILE = join(DEV_STATE_DIR, "jwt-secret");

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

function readOrUndefined(file: string): string | undefined {
  try {
    const text = readFileSync(file, "utf8").trim();
    return text === "" ? undefined : text;
  } catch {
    return undefined;
  }
}
