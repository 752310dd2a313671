/** Progress lines on stderr, each stamped with the run's clock in seconds (stdout keeps only the result). */
export class Progress {
  /** `clock`: milliseconds since the run started (the event log's, so lines and findings share one time). */
  constructor(private readonly clock: () => number) {}

  /** One line. */
  log(text: string): void {
    process.stderr.write(`[chaos ${(this.clock() / 1000).toFixed(1)}s] ${text}\n`);
  }
}
