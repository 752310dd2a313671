import type { Subprocess } from "bun";
import { forEachLine, type Output } from "./output.ts";

/** How a child ended: an exit code, or the signal that killed it. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** "code 2" or "signal SIGKILL". */
export function describeExit(e: ExitInfo): string {
  return e.signal !== null ? `signal ${e.signal}` : `code ${String(e.code)}`;
}

export interface ChildSpec {
  /** The prefix of its output lines: "gateway-1". */
  name: string;
  cmd: string[];
  cwd?: string;
  env: Record<string, string>;
  /** Own session, so a terminal's Ctrl-C reaches it only through the launcher (nats-server: stopped last). */
  detached?: boolean;
  /** Which output lines to show (all when absent). */
  show?: (line: string) => boolean;
}

/** A child process whose output is streamed, prefixed with its name. */
export class Child {
  /** Resolves once the process has exited and its output has been written out. */
  readonly done: Promise<ExitInfo>;
  private constructor(readonly name: string, readonly proc: Subprocess<"ignore", "pipe", "pipe">, out: Output, show: (line: string) => boolean) {
    const pump = (stream: ReadableStream<Uint8Array>, to: "out" | "err") =>
      forEachLine(stream, (line) => {
        if (show(line)) out.line(name, line, to);
      });
    const pumps = Promise.all([pump(proc.stdout, "out"), pump(proc.stderr, "err")]);
    this.done = proc.exited.then(async () => {
      // A grandchild may hold the pipes open: do not wait for them for ever.
      await Promise.race([pumps, Bun.sleep(500)]);
      const sig = proc.signalCode;
      return { code: proc.exitCode, signal: sig === null ? null : String(sig) };
    });
  }

  /** Spawns `spec`; throws when the command cannot be started. */
  static spawn(spec: ChildSpec, out: Output): Child {
    const proc = Bun.spawn(spec.cmd, {
      cwd: spec.cwd,
      env: spec.env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: spec.detached ?? false,
    });
    return new Child(spec.name, proc, out, spec.show ?? (() => true));
  }

  get pid(): number {
    return this.proc.pid;
  }

  /** True until the process has exited. */
  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Sends `signal` if the process still runs; never throws. */
  signal(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    try {
      this.proc.kill(signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  async stop(graceMs: number): Promise<ExitInfo> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    try {
      return await this.done;
    } finally {
      clearTimeout(timer);
    }
  }
}
