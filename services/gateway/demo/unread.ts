/** Where a user marked their inbox read: every notification up to `offset` in `epoch`. */
export interface ReadMark {
  epoch: string;
  offset: number;
}

/** Notifications after the mark (all of them when the mark is of another epoch, or there is none). */
export function unreadCount(epoch: string | undefined, offsets: readonly number[], mark: ReadMark | undefined): number {
  if (epoch === undefined) return 0;
  if (!mark || mark.epoch !== epoch) return offsets.length;
  return offsets.filter((o) => o > mark.offset).length;
}

/** The mark that makes every one of `offsets` read. */
export function markAll(epoch: string, offsets: readonly number[], previous: ReadMark | undefined): ReadMark {
  const top = offsets.length > 0 ? Math.max(...offsets) : 0;
  const kept = previous && previous.epoch === epoch ? previous.offset : 0;
  return { epoch, offset: Math.max(top, kept) };
}

/** A stored mark, or undefined when it is missing or not one (localStorage is user-editable). */
export function parseMark(text: string | null): ReadMark | undefined {
  if (text === null) return undefined;
  try {
    const v = JSON.parse(text) as Partial<ReadMark>;
    return typeof v.epoch === "string" && typeof v.offset === "number" && Number.isSafeInteger(v.offset) && v.offset >= 0 ? { epoch: v.epoch, offset: v.offset } : undefined;
  } catch {
    return undefined;
  }
}
