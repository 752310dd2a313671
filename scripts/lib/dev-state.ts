import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { randomSecret } from "./jwt.ts";
import { NATS_ROLES, newNatsPassword, usableNatsPassword, type NatsPasswords } from "./nats-users.ts";

/** Where `bun run dev` keeps its state unless DEV_STATE_DIR names another folder: `.tmp/dev/` at the repository root (git-ignored). */
export const DEFAULT_DEV_STATE_DIR = resolve(import.meta.dir, "../../.tmp/dev");

/** The state folder `env` names: DEV_STATE_DIR (relative to the current folder), else `.tmp/dev/` at the repository root. */
export function devStateDir(env: Record<string, string | undefined> = process.env): string {
  const dir = env.DEV_STATE_DIR;
  return dir === undefined || dir === "" ? DEFAULT_DEV_STATE_DIR : resolve(dir);
}

/** The files of the state folder: the dev run's interface to the other commands and to people (README, "What `bun run dev` prints and keeps"). */
export const DEV_FILES = {
  /** The URL of the nats-server the running dev run uses; removed when it stops. */
  natsUrl: "nats-url",
  /** NATS_URL, NATS_USER=backend and NATS_PASSWORD of the running dev run's nats-server, for a shell or `bun --env-file`; removed when it stops. */
  backendEnv: "backend.env",
  /** The JWT secret made up when JWT_SECRET is unset; kept, so tokens stay valid across runs. */
  jwtSecret: "jwt-secret",
  /** The passwords of the dev nats-server's users, one key per role (deploy/nats/auth.conf); kept. */
  natsPasswords: "nats-passwords.json",
} as const;

/**
 * What `bun run dev` leaves in its state folder for the repository's other commands (`bun run
 * token`, `notify --nats`, `api --nats`): each run and each command looks only at its own folder,
 * so a test's launcher (a temporary DEV_STATE_DIR) never touches a developer's dev run.
 */
export class DevState {
  constructor(readonly dir: string) {}

  /** The state folder `env` names (see devStateDir). */
  static of(env: Record<string, string | undefined> = process.env): DevState {
    return new DevState(devStateDir(env));
  }

  /** The path of one of DEV_FILES. */
  file(name: keyof typeof DEV_FILES): string {
    return join(this.dir, DEV_FILES[name]);
  }

  /** The running dev run's NATS URL, or undefined when none is running (or it was killed before it could clean up: the file names a dead server then). */
  natsUrl(): string | undefined {
    return readOrUndefined(this.file("natsUrl"));
  }

  /** Announces a running dev run: its NATS URL and, when it started its own nats-server, the backend user's `backend.env`. */
  writeRun(url: string, backendPassword: string | undefined): void {
    mkdirSync(this.dir, { recursive: true });
    if (backendPassword !== undefined) writePrivate(this.file("backendEnv"), `NATS_URL=${url}\nNATS_USER=backend\nNATS_PASSWORD=${backendPassword}\n`);
    writeFileSync(this.file("natsUrl"), `${url}\n`);
  }

  /** Removes the run's files if they still name `url` (another dev run in the same folder may have written its own since). */
  clearRun(url: string): void {
    if (this.natsUrl() !== url) return;
    rmSync(this.file("natsUrl"), { force: true });
    rmSync(this.file("backendEnv"), { force: true });
  }

  /** The dev JWT secret, made (mode 600) on first use. */
  jwtSecret(): { secret: string; file: string; created: boolean } {
    const file = this.file("jwtSecret");
    const existing = readOrUndefined(file);
    if (existing !== undefined && Buffer.byteLength(existing) >= 32) return { secret: existing, file, created: false };
    const secret = randomSecret();
    writePrivate(file, `${secret}\n`);
    return { secret, file, created: true };
  }

  /** The dev JWT secret if a dev run made one, without making it. */
  existingJwtSecret(): string | undefined {
    return readOrUndefined(this.file("jwtSecret"));
  }

  /**
   * The passwords of the dev nats-server's users, kept in `nats-passwords.json` (mode 600) so they
   * stay the same across runs; a missing or unusable one is made anew (`made` names them).
   * Deleting the file rotates them all at the next run.
   */
  natsPasswords(): { passwords: NatsPasswords; file: string; made: string[] } {
    const file = this.file("natsPasswords");
    const stored = this.storedPasswords();
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

  /** The backend user's kept password, if a dev run made one (the command-line tools log in with it). */
  backendPassword(): string | undefined {
    const kept = this.storedPasswords().backend;
    return typeof kept === "string" && kept !== "" ? kept : undefined;
  }

  private storedPasswords(): Record<string, unknown> {
    try {
      const parsed = JSON.parse(readFileSync(this.file("natsPasswords"), "utf8")) as unknown;
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // none yet, or not JSON
    }
    return {};
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
