/**
 * Runs tasks one at a time per key (a promise chain per key), different keys in parallel.
 * A key's entry lives only while it has queued work, so memory follows the work in flight.
 */
export class KeyedSerializer<K> {
  private readonly tails = new Map<K, Promise<unknown>>();

  /** Runs `task` after every earlier task for `key` has settled; resolves or rejects as `task` does. */
  run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with queued or running work. */
  get pending(): number {
    return this.tails.size;
  }
}
