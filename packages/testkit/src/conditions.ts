/** Promises that resolve when a condition holds, re-checked whenever `wake()` is called. */
export class Conditions {
  private waiters: Array<() => void> = [];

  /** Re-checks every pending condition (call it after each event). */
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const fn of w) fn();
  }

  /** Resolves once `cond` holds; rejects after `timeoutMs` with `what` and `detail()` in the message. */
  until(cond: () => boolean, what: string, timeoutMs: number, detail: () => string = () => ""): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail()}`)), timeoutMs);
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }
}
