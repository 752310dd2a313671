/** The traffic phase of a run: loops check `on`, and their pauses end early when it stops. */
export class Running {
  on = true;
  private readonly stopped = Promise.withResolvers<void>();

  /** Ends the phase: every `sleep` resolves at once. */
  stop(): void {
    this.on = false;
    this.stopped.resolve();
  }

  /** Waits `ms`, or less when the phase ends meanwhile. */
  async sleep(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.stopped.promise]);
    clearTimeout(timer);
  }
}
