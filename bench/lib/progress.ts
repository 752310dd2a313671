/**
 * One status line on stderr while a phase runs: rewritten in place on a terminal, printed
 * every few seconds otherwise (CI logs), and finished with a plain line per result.
 */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastPlain = 0;
  private shown = false;
  private readonly t0 = performance.now();

  /** Replaces the status line. */
  status(text: string): void {
    const line = `[bench ${this.elapsed()}] ${text}`;
    if (this.tty) {
      process.stderr.write(`\x1b[2K\r${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
      this.shown = true;
    } else if (performance.now() - this.lastPlain > 3000) {
      this.lastPlain = performance.now();
      process.stderr.write(`${line}\n`);
    }
  }

  /** Prints a lasting line (a result, a warning) under the status line. */
  log(text: string): void {
    if (this.shown) process.stderr.write("\x1b[2K\r");
    this.shown = false;
    process.stderr.write(`[bench ${this.elapsed()}] ${text}\n`);
  }

  /** Calls `poll` every `everyMs` and shows what it returns until `work` settles. */
  async watch<T>(work: Promise<T>, poll: () => Promise<string>, everyMs = 250): Promise<T> {
    let done = false;
    const loop = (async () => {
      while (!done) {
        await Bun.sleep(everyMs);
        if (done) break;
        try {
          this.status(await poll());
        } catch {
          // a worker busy or gone: the work itself reports it
        }
      }
    })();
    try {
      return await work;
    } finally {
      done = true;
      await loop;
    }
  }

  private elapsed(): string {
    return `${((performance.now() - this.t0) / 1000).toFixed(1)}s`;
  }
}
