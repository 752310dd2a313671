import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { serviceNatsEnv } from "./nats-auth.ts";
import { freePort, waitFor } from "./ports.ts";

/** The repository root. */
export const ROOT = resolve(import.meta.dir, "../../..");

/** A service started as a child process with `bun run src/main.ts` in its folder. */
export class ServiceProcess implements AsyncDisposable {
  private output = "";
  private constructor(readonly name: string, readonly proc: Subprocess<"ignore", "pipe", "pipe">, readonly port: number | undefined) {
    void this.collect(proc.stdout);
    void this.collect(proc.stderr);
  }

  /** Starts services/<name> with `env`; when `port` is given, waits for its /readyz unless `waitReady` is false. */
  static async start(name: "gateway" | "notifier" | "metrics", env: Record<string, string>, opts: { waitReady?: boolean; withPort?: boolean } = {}): Promise<ServiceProcess> {
    const withPort = opts.withPort ?? name !== "metrics";
    const port = env.PORT ? Number(env.PORT) : withPort ? await freePort() : undefined;
    const fullEnv: Record<string, string> = { ...childEnv(), LOG_LEVEL: "info", ...ownNatsUser(name, env), ...env };
    if (port !== undefined) fullEnv.PORT = String(port);
    const proc = Bun.spawn(["bun", "run", "src/main.ts"], {
      cwd: join(ROOT, "services", name),
      env: fullEnv,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const svc = new ServiceProcess(name, proc, port);
    if (port !== undefined && opts.waitReady !== false) await svc.ready();
    return svc;
  }

  /** Waits until /readyz answers 200; after `timeoutMs` (or an early exit) kills the process and throws. */
  async ready(timeoutMs = 15_000): Promise<void> {
    const { proc, port, name } = this;
    if (port === undefined) throw new Error(`${name} has no port to ask /readyz on`);
    try {
      await waitFor(`${name} /readyz`, async () => {
        if (proc.exitCode !== null) throw new Error(`${name} exited ${proc.exitCode}: ${this.output}`);
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        return r.status === 200;
      }, timeoutMs, 50);
    } catch (err) {
      proc.kill("SIGKILL");
      throw new Error(`${name} did not become ready: ${String(err)}\n${this.output}`);
    }
  }

  /** http://127.0.0.1:port */
  get http(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** ws://127.0.0.1:port */
  get ws(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Everything the process has printed so far. */
  get logs(): string {
    return this.output;
  }

  /** Sends `signal` and waits for the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return await this.proc.exited;
  }

  /** SIGKILL now, without waiting (for an `exit` handler). */
  killNow(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill("SIGKILL");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill("SIGKILL");
      await this.proc.exited;
    }
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      this.output += dec.decode(chunk, { stream: true });
      if (this.output.length > 1_000_000) this.output = this.output.slice(-500_000);
    }
  }
}

/** Runs a service's main.ts to completion (for config checks) and returns exit code and output. */
export async function runToExit(name: string, env: Record<string, string>, timeoutMs = 10_000): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(["bun", "run", "src/main.ts"], {
    cwd: join(ROOT, "services", name),
    // Its own NATS user, as ServiceProcess gives one, unless the test sets credentials itself.
    env: { ...childEnv(), ...ownNatsUser(name, env), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  return { code, output: out + err };
}

/** What any process needs of the test run's environment (PATH, HOME, temp folder, locale, Bun's own settings). */
const INHERITED = /^(PATH|HOME|TMPDIR|LANG|LC_[A-Z]+|TZ|BUN_[A-Z_]+)$/;

/**
 * The environment a service the tests start inherits: INHERITED only, so its configuration is the
 * test's alone, whatever the shell exports (a compose deployment's NOTIFIER_TOKENS, say).
 */
function childEnv(): Record<string, string> {
  const env: Record<string, string> = { HOME: "/tmp" };
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && INHERITED.test(k)) env[k] = v;
  return env;
}

/** Each service connects as its own NATS user of deploy/nats/auth.conf, unless `env` gives credentials of its own. */
function ownNatsUser(name: string, env: Record<string, string>): Record<string, string> {
  if ("NATS_USER" in env || "NATS_PASSWORD" in env || "NATS_TOKEN" in env || "NATS_CREDS" in env) return {};
  return name === "gateway" || name === "notifier" || name === "metrics" ? serviceNatsEnv(name) : {};
}
