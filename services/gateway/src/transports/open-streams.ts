import type { StreamTransport } from "./stream-transport.ts";
import type { Disconnect } from "./transport.ts";

/** The disconnect of a connection whose reader is too slow (the client protocol's 3008: the SDKs reconnect). */
export const SLOW: Disconnect = { code: 3008, reason: "slow" };

/**
 * The connections on HTTP responses open here, for what the sweeper does for WebSockets: the
 * connection cap counts them (`size`), every sweep closes a stream whose reader left more than its
 * limit unread (as a WebSocket's 3008) and looks at each other one's session (ping, pong deadline,
 * token expiry: `look`), and shutdown closes them all with a disconnect push (3001: the SDKs
 * reconnect, to another gateway where there is one). A stream leaves the set when it closes,
 * whoever closed it.
 */
export class OpenStreams {
  private readonly streams = new Map<StreamTransport, (now: number) => void>();

  /** Tracks `t` until it closes; `look` is its session's sweep. */
  add(t: StreamTransport, look: (now: number) => void = () => undefined): void {
    if (t.closed) return;
    this.streams.set(t, look);
    t.onClose(() => this.streams.delete(t));
  }

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /** One pass: a slow stream is closed, every other one's `look` runs. */
  sweep(now: number = Date.now()): void {
    for (const [t, look] of this.streams) {
      if (t.closed) continue;
      if (t.slow) t.close(SLOW);
      else look(now);
    }
  }

  /** Closes every open stream with `d` (shutdown). */
  closeAll(d: Disconnect): void {
    for (const t of [...this.streams.keys()]) t.close(d);
  }
}
