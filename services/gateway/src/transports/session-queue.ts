/**
 * One line per session: the emulation requests of a session are handed to it one at a time, each
 * once the one before has settled, in the order this gateway received them (the order one other
 * gateway forwarded them in is kept by NATS, one publisher's messages in order). At most
 * `maxPending` wait per session; beyond, `run` refuses at once (the client is sending faster than
 * its session takes commands). A line is dropped when it empties.
 */
export class SessionQueue<S> {
  private readonly lines = new Map<S, { tail: Promise<unknown>; waiting: number }>();
  private total = 0;

  constructor(private readonly maxPending: number) {}

  /** Runs `task` once `session`'s earlier tasks settled; undefined (nothing run) when too many wait. */
  run<T>(session: S, task: () => Promise<T> | T): Promise<T> | undefined {
    let line = this.lines.get(session);
    if (!line) this.lines.set(session, (line = { tail: Promise.resolve(), waiting: 0 }));
    if (line.waiting >= this.maxPending) return undefined;
    line.waiting++;
    this.total++;
    const l = line;
    const result = l.tail.then(task);
    l.tail = result.then(
      () => this.settled(session, l),
      () => this.settled(session, l),
    );
    return result;
  }

  /** Sessions with requests waiting or running. */
  get size(): number {
    return this.lines.size;
  }

  /** Requests waiting or running, every session together. */
  get waiting(): number {
    return this.total;
  }

  private settled(session: S, line: { waiting: number }): void {
    this.total--;
    if (--line.waiting === 0 && this.lines.get(session) === line) this.lines.delete(session);
  }
}
