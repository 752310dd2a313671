import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Child, describeExit } from "./children.ts";
import type { Output } from "./output.ts";
import { sleepUnlessAborted } from "./wait.ts";

/** The one line printed when no nats-server can be found and NATS_URL is unset. */
export const NATS_NOT_FOUND =
  "nats-server not found: install it (apt-get install nats-server, or https://github.com/nats-io/nats-server/releases) or set NATS_URL to a running server";

/** What nats-server prints at every start with auth.conf's plain passwords (expected in dev: not shown). */
const PLAINTEXT_WARNING = /Plaintext passwords detected/;

/** The nats-server lines shown without LOG_LEVEL=debug: warnings, errors, and a config it refuses ("nats-server: <file>:69:22: …"). */
export function showNatsLine(line: string): boolean {
  return (/\[(WRN|ERR|FTL)\]/.test(line) && !PLAINTEXT_WARNING.test(line)) || line.startsWith("nats-server: ");
}

/**
 * A nats-server with JetStream on a kernel-chosen port of 127.0.0.1 and a temporary store, with the
 * users and permissions of `config` (deploy/nats/auth.conf), whose passwords come from `env`.
 */
export class LocalNats {
  private constructor(readonly child: Child, readonly storeDir: string, readonly url: string) {}

  /**
   * Starts nats-server and resolves with its URL once it listens. `-p -1` lets the server take a
   * free port itself (no race with another process), and `--ports_file_dir` tells us which:
   * the file appears once the server is ready, JetStream included.
   * `onSpawn` gets the child at once, so the launcher can stop it even if startup fails.
   */
  static async start(
    bin: string,
    out: Output,
    opts: { config: string; env: Record<string, string>; verbose: boolean; timeoutMs: number; signal: AbortSignal; onSpawn: (child: Child, storeDir: string) => void },
  ): Promise<LocalNats> {
    const storeDir = mkdtempSync(join(tmpdir(), "rt-dev-nats-"));
    let child: Child;
    try {
      child = Child.spawn({
        name: "nats",
        // The flags after -c win over the config file (which sets only users and permissions).
        cmd: [bin, "-c", opts.config, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", storeDir, "--ports_file_dir", storeDir, "-n", "rt-dev"],
        env: { PATH: process.env.PATH ?? "", ...opts.env },
        detached: true,
        // The JetStream banner is noise; warnings and errors are not.
        show: (line) => opts.verbose || showNatsLine(line),
      }, out);
    } catch (err) {
      rmSync(storeDir, { recursive: true, force: true });
      throw new Error(`could not start ${bin}: ${String(err)}`);
    }
    opts.onSpawn(child, storeDir);
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const url = readPortsFile(storeDir);
      if (url !== undefined) return new LocalNats(child, storeDir, url);
      if (!child.alive) throw new Error(`nats-server exited at start with ${describeExit(await child.done)} (run with LOG_LEVEL=debug to see its output)`);
      if (Date.now() > deadline) throw new Error(`nats-server did not start listening within ${opts.timeoutMs} ms`);
      await sleepUnlessAborted(25, opts.signal);
    }
  }

  /** Stops the server (SIGKILL after `graceMs`); removing the store is the caller's job. */
  async stop(graceMs: number): Promise<void> {
    await this.child.stop(graceMs);
  }
}

/** The client URL from `<dir>/nats-server_<pid>.ports` ({"nats":["nats://127.0.0.1:PORT"]}), if written yet. */
function readPortsFile(dir: string): string | undefined {
  const file = readdirSync(dir).find((f) => f.endsWith(".ports"));
  if (file === undefined) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(join(dir, file), "utf8")) as { nats?: unknown };
    const first = Array.isArray(parsed.nats) ? parsed.nats[0] : undefined;
    return typeof first === "string" ? first : undefined;
  } catch {
    return undefined; // written but not complete yet
  }
}
