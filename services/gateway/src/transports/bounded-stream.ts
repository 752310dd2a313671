/** Why a stream ended. */
export type StreamEnd = "ended" | "peer" | "slow";

/** The most bytes handed to Bun in one write (queued frames are merged up to it). */
export const MAX_CHUNK_BYTES = 64 * 1024;

/** How long an ended stream may take to be read to its end before it is cut. */
export const END_GRACE_MS = 5000;

/**
 * What a cut stream's response fails with. Bun resets the connection for it (and writes this one
 * line to stderr: it reports every stream that fails).
 */
export const CUT_REASON = "slow reader cut";

/** The part of Bun's direct stream controller used here. */
type DirectController = Pick<ReadableStreamDirectController, "write" | "close">;

/**
 * The body of a streaming HTTP response with bounded memory. Bytes are handed to Bun's socket
 * writer (a `direct` ReadableStream) while it takes them; once it says its buffer is full (a
 * write returns a promise: the kernel's socket buffers are full, the reader is not reading), the
 * rest waits in this queue until it drains. So what is held for a reader is this queue and the one
 * chunk Bun holds, `bufferedBytes`. A write that would take the queue over `limitBytes` cuts the
 * stream at once: the queue is dropped and the connection reset (failing a direct stream is the
 * one way to free a socket whose reader stalled: ending it, or failing an ordinary stream, leaves
 * it open until the reader reads). So does an ended stream still unread after `graceMs`. Its
 * client sees the connection drop and reconnects, as after a WebSocket cut for the same reason.
 *
 * `onEnd` runs once: `ended` after `end()` (the last bytes handed to Bun), `peer` when the client
 * went away (Bun cancels the body, or a write finds it gone), `slow` when it was cut.
 */
export class BoundedStream {
  readonly body: ReadableStream<Uint8Array>;
  private controller: DirectController | undefined;
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** Bytes of the chunk Bun took while full, until it drains. */
  private inBun = 0;
  private state: "open" | "ending" | "done" = "open";
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Runs when Bun took a chunk it held while full (the reader reads again). */
  onDrain: (() => void) | undefined;

  constructor(
    private readonly limitBytes: number,
    private readonly onEnd: (why: StreamEnd) => void = () => undefined,
    private readonly graceMs: number = END_GRACE_MS,
  ) {
    this.body = new ReadableStream({
      type: "direct",
      pull: (c: ReadableStreamDirectController) => {
        this.controller = c;
        if (this.state === "done") c.close(CUT_REASON as unknown as Error);
        else this.flush();
      },
      cancel: () => this.finish("peer"),
    });
  }

  /** Bytes written and not yet taken by the socket: this queue and the chunk Bun holds while full. */
  get bufferedBytes(): number {
    return this.queued + this.inBun;
  }

  /** True until the stream ends or ending began. */
  get open(): boolean {
    return this.state === "open";
  }

  /**
   * Writes `bytes`; false when the stream is not open, or when they would take what is held over
   * the limit (the stream is then cut, and `onEnd("slow")` has run). `bytes` is never changed
   * (several streams may share it).
   */
  write(bytes: Uint8Array): boolean {
    if (this.state !== "open") return false;
    if (this.bufferedBytes + bytes.byteLength > this.limitBytes) {
      this.cut();
      return false;
    }
    this.queue.push(bytes);
    this.queued += bytes.byteLength;
    this.flush();
    return this.state === "open";
  }

  /** Writes `last` (if any) and ends the stream once Bun has taken everything; cut if that takes longer than the grace period. */
  end(last?: Uint8Array): void {
    if (this.state !== "open") return;
    if (last && last.byteLength > 0) {
      this.queue.push(last);
      this.queued += last.byteLength;
    }
    this.state = "ending";
    this.graceTimer = setTimeout(() => this.cut(), this.graceMs);
    this.flush();
  }

  /** Drops what is held and resets the connection now (a reader too slow). */
  cut(): void {
    if (this.state === "done") return;
    this.finish("slow");
    // A string, not an Error: Bun prints what a stream fails with, and an Error comes with its source lines.
    this.controller?.close(CUT_REASON as unknown as Error);
  }

  /** Hands queued bytes to Bun while it takes them; ends the stream when ending and all is taken. */
  private flush(): void {
    const c = this.controller;
    if (!c || this.inBun > 0) return;
    while (this.queued > 0 && this.state !== "done") {
      const chunk = this.take();
      const r = c.write(chunk);
      if (typeof r !== "number") {
        // Taken, and Bun's buffer is full: the rest waits until it drains.
        this.inBun = chunk.byteLength;
        r.then(
          () => this.drained(),
          () => this.finish("peer"),
        );
        return;
      }
      if (r === 0) return this.finish("peer"); // the client is gone
    }
    if (this.state === "ending" && this.queued === 0) {
      this.finish("ended");
      c.close();
    }
  }

  private drained(): void {
    this.inBun = 0;
    if (this.state !== "done") this.flush();
    if (this.state === "open") this.onDrain?.();
  }

  /** The next chunk: the first queued frame, merged with those after it up to MAX_CHUNK_BYTES. */
  private take(): Uint8Array {
    const first = this.queue[0]!;
    let n = 1;
    let size = first.byteLength;
    while (n < this.queue.length && size + this.queue[n]!.byteLength <= MAX_CHUNK_BYTES) size += this.queue[n++]!.byteLength;
    const parts = this.queue.splice(0, n);
    this.queued -= size;
    if (n === 1) return first;
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }

  private finish(why: StreamEnd): void {
    if (this.state === "done") return;
    this.state = "done";
    clearTimeout(this.graceTimer);
    this.queue = [];
    this.queued = 0;
    this.inBun = 0;
    this.onEnd(why);
  }
}
