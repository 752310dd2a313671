/** A repeating task that can be stopped. */
export interface Ticker {
  /** Cancels the next tick and waits for a running one to finish. */
  stop(): Promise<void>;
}

/**
 * Runs `tick` now and then every `intervalMs`, on slots counted from the start so delays do not add
 * up. Ticks never overlap: one that runs past its slot makes the next start at the following free
 * slot, skipping the missed ones. Errors from `tick` go to `onError` and the schedule carries on.
 */
export function startTicker(intervalMs: number, tick: () => unknown, onError: (err: unknown) => void): Ticker {
  const start = performance.now();
  let slot = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const runOnce = async (): Promise<void> => {
    try {
      await tick();
    } catch (err) {
      onError(err);
    }
  };

  const run = async (): Promise<void> => {
    timer = undefined;
    if (stopped) return;
    running = runOnce();
    await running;
    running = undefined;
    if (stopped) return;
    const now = performance.now();
    slot = Math.max(slot + 1, Math.floor((now - start) / intervalMs) + 1);
    timer = setTimeout(run, start + slot * intervalMs - now);
  };

  void run();
  return {
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
