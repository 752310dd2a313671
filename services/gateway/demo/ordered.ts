/** An entry of a channel's history: its offset orders it within one epoch. */
export interface Positioned {
  offset: number;
}

/**
 * Entries of one channel kept in offset order, each once, at most `max` (the oldest go first):
 * history read after live ones arrived, or a recovery's replay, merge without duplicates.
 */
export class OrderedLog<T extends Positioned> {
  private readonly byOffset = new Map<number, T>();
  private epoch: string | undefined;

  constructor(private readonly max: number) {}

  /** Adds entries of `epoch`; a new epoch first drops everything (its offsets count from 1 again). True when anything changed. */
  add(epoch: string, entries: readonly T[]): boolean {
    let changed = false;
    if (epoch !== this.epoch) {
      changed = this.byOffset.size > 0;
      this.byOffset.clear();
      this.epoch = epoch;
    }
    for (const e of entries) {
      if (this.byOffset.has(e.offset)) continue;
      this.byOffset.set(e.offset, e);
      changed = true;
    }
    if (this.byOffset.size > this.max) {
      const drop = [...this.byOffset.keys()].sort((a, b) => a - b).slice(0, this.byOffset.size - this.max);
      for (const k of drop) this.byOffset.delete(k);
    }
    return changed;
  }

  /** The entries, oldest first. */
  entries(): T[] {
    return [...this.byOffset.values()].sort((a, b) => a.offset - b.offset);
  }

  /** The epoch the entries belong to (undefined before the first). */
  get currentEpoch(): string | undefined {
    return this.epoch;
  }

  get size(): number {
    return this.byOffset.size;
  }
}
