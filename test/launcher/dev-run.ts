import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

/** The repository root. */
export const ROOT = resolve(import.meta.dir, "../..");

/** Variables of the caller's environment that would change what the launcher does. */
const LAUNCHER_INPUTS = [
  "NATS_URL", "JWT_SECRET", "GATEWAYS", "GATEWAY_PORT", "NOTIFIER_PORT", "NATS_SERVER_BIN", "DEV_READY_TIMEOUT_MS", "DEV_STATE_DIR", "LOG_LEVEL", "LOG_PRETTY", "NOTIFIER_TOKENS", "DEMO_PAGE", "FORCE_COLOR", "NO_COLOR",
  "NATS_USER", "NATS_PASSWORD", "NATS_TOKEN", "NATS_CREDS", "REUSE_PORT",
];

/** util-linux `script`, which runs a command on a pseudo-terminal; null where there is none. */
export const SCRIPT = Bun.which("script");

/**
 * A state folder of a test's own (DEV_STATE_DIR), so no launcher a test starts reads or writes a
 * developer's `.tmp/dev` (the running dev run's URL, its passwords). Removed with `rmStateDir`.
 */
export function testStateDir(): string {
  return mkdtempSync(join(tmpdir(), "rt-dev-state-test-"));
}

/** Removes a folder testStateDir made. */
export function rmStateDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** `bun run dev` from the repository root, with everything it prints collected. */
export class DevRun implements AsyncDisposable {
  output = "";
  private waiters: Array<() => void> = [];

  /**
   * `onTerminal`: `proc` is `script`, and `bun run dev` runs under it on a pseudo-terminal.
   * `ownsStateDir`: `stateDir` was made for this run and goes with it.
   */
  private constructor(readonly proc: Subprocess<"ignore", "pipe", "pipe">, readonly stateDir: string, private readonly ownsStateDir: boolean, private readonly onTerminal = false) {
    void this.collect(proc.stdout);
    void this.collect(proc.stderr);
  }

  /**
   * Starts the launcher with the caller's environment minus its inputs, plus `env`; its state
   * folder is `env.DEV_STATE_DIR` when given (the caller removes it), else a new temporary one.
   */
  static start(env: Record<string, string>, cwd = ROOT): DevRun {
    const { stateDir, owned } = DevRun.stateDirOf(env);
    return new DevRun(Bun.spawn([process.execPath, "run", "dev"], DevRun.spawnOptions({ ...env, DEV_STATE_DIR: stateDir }, cwd)), stateDir, owned);
  }

  /**
   * The same with the launcher's stdout and stderr a pseudo-terminal (through `script`, which must
   * exist: see SCRIPT), as when a person runs it; `output` is what the terminal showed.
   */
  static startOnTerminal(env: Record<string, string>): DevRun {
    const { stateDir, owned } = DevRun.stateDirOf(env);
    const cmd = [SCRIPT!, "-qec", `exec '${process.execPath}' run dev`, "/dev/null"];
    return new DevRun(Bun.spawn(cmd, DevRun.spawnOptions({ TERM: "xterm", ...env, DEV_STATE_DIR: stateDir }, ROOT)), stateDir, owned, true);
  }

  private static stateDirOf(env: Record<string, string>): { stateDir: string; owned: boolean } {
    return env.DEV_STATE_DIR !== undefined ? { stateDir: env.DEV_STATE_DIR, owned: false } : { stateDir: testStateDir(), owned: true };
  }

  private static spawnOptions(env: Record<string, string>, cwd: string) {
    const base: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !LAUNCHER_INPUTS.includes(k)) base[k] = v;
    return { cwd, env: { ...base, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" } as const;
  }

  /** A file of the run's state folder (scripts/lib/dev-state.ts: nats-url, backend.env, jwt-secret, nats-passwords.json). */
  stateFile(name: string): string {
    return join(this.stateDir, name);
  }

  /** The `bun run dev` process: `proc`, or on a terminal the one under `script` (undefined once gone). */
  get runPid(): number | undefined {
    return this.onTerminal ? childrenOf(this.proc.pid)[0] : this.proc.pid;
  }

  /** Every line printed so far (a terminal's \r\n read as \n). */
  get lines(): string[] {
    return this.output.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l.length > 0);
  }

  /** Lines the launcher itself printed, without what `bun run` adds ("$ bun run …", "error: script … exited"). */
  get ownLines(): string[] {
    return this.lines.filter((l) => !l.startsWith("$ bun run ") && !/^error: script "dev" exited with code \d+$/.test(l));
  }

  /** Waits for a line matching `re`; rejects if the launcher exits first or after `timeoutMs`. */
  async waitForLine(re: RegExp, timeoutMs = 40_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const m = re.exec(line);
        if (m) return m;
      }
      if (this.proc.exitCode !== null) throw new Error(`launcher exited ${this.proc.exitCode} before printing ${re}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`no line matching ${re} within ${timeoutMs} ms:\n${this.output}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  /** The children the launcher reported: name → pid ("gateway-1 started (pid 123)", "nats started (pid 45) …"). */
  get childPids(): Map<string, number> {
    const pids = new Map<string, number>();
    for (const m of this.output.matchAll(/^dev\s+\| (\S+) started \(pid (\d+)\)/gm)) pids.set(m[1]!, Number(m[2]));
    return pids;
  }

  /** The temporary JetStream store the launcher reported, if it started a nats-server. */
  get storeDir(): string | undefined {
    return /JetStream store (\S+)/.exec(this.output)?.[1];
  }

  /** Sends `signal` and resolves with the exit code, or rejects after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<number> {
    if (this.proc.exitCode === null) this.signalRun(signal);
    return await this.exited(timeoutMs);
  }

  /** Sends `signal` to `bun run dev` (on a terminal, not to `script`, which would hang up on it). */
  private signalRun(signal: NodeJS.Signals): void {
    const pid = this.runPid;
    try {
      if (pid !== undefined) process.kill(pid, signal);
    } catch {
      // gone
    }
  }

  /** The exit code, or rejects after `timeoutMs`. */
  async exited(timeoutMs = 15_000): Promise<number> {
    let timer: Timer | undefined;
    try {
      return await Promise.race([
        this.proc.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`launcher still running after ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** After a failed test: stop the launcher, then kill whatever it reported and left. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.proc.exitCode === null) {
      this.signalRun("SIGTERM");
      await Promise.race([this.proc.exited, Bun.sleep(15_000)]);
      if (this.proc.exitCode === null) this.proc.kill("SIGKILL");
    }
    for (const pid of this.childPids.values()) {
      try {
        if (isRunning(pid)) process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    if (this.ownsStateDir) rmStateDir(this.stateDir);
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      this.output += dec.decode(chunk, { stream: true });
      const w = this.waiters;
      this.waiters = [];
      for (const fn of w) fn();
    }
  }
}

/** Pids whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** The environment `pid` was started with (Linux: /proc/<pid>/environ). */
export function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** The command line `pid` was started with (Linux: /proc/<pid>/cmdline), one argument an entry. */
export function commandOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a.length > 0);
}

/** True while `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // pid (comm) state ...: comm may contain spaces and parentheses, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Pids of the live processes whose command line contains `needle`. */
export function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmdline.includes(needle) && isRunning(Number(entry))) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}
