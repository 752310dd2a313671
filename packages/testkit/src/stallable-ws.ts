import { Opcode, RawSocket, type RawMessage } from "./raw-ws.ts";

/** The close event the SDKs read (`code`, `reason`). */
export interface StallableCloseEvent {
  code: number;
  reason: string;
  wasClean: boolean;
}

/**
 * The part of the browser WebSocket API the centrifuge SDK uses (its `websocket` option), over a
 * RawSocket: a client whose socket can stop reading (`StallableTransport.pause()`), so the
 * server's output piles up in the kernel and then in the server, as it does behind a stalled
 * browser tab or a slow mobile link.
 */
export class StallableWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readyState = StallableWebSocket.CONNECTING;
  binaryType = "blob";
  protocol = "";
  onopen: ((e: unknown) => void) | null = null;
  onmessage: ((e: { data: string | ArrayBuffer }) => void) | null = null;
  onerror: ((e: unknown) => void) | null = null;
  onclose: ((e: StallableCloseEvent) => void) | null = null;
  /** True once the handshake completed. */
  wasOpen = false;
  private raw: RawSocket | undefined;
  private closeAsked: { code: number; reason: string } | undefined;
  private ended = false;
  /** Messages read before `onopen` was called (the handshake's last chunk may carry some). */
  private early: RawMessage[] | undefined = [];
  private readonly decoder = new TextDecoder();

  constructor(readonly url: string, protocols?: string | string[], private readonly owner?: StallableTransport) {
    const protocol = Array.isArray(protocols) ? protocols.join(", ") : protocols;
    owner?.opening(this);
    RawSocket.open(url, { keepMessages: false, onMessage: (m) => this.deliver(m), headers: protocol ? { "sec-websocket-protocol": protocol } : {}, timeoutMs: 10_000 }).then(
      (raw) => this.opened(raw),
      (err: unknown) => {
        this.onerror?.({ type: "error", error: err });
        this.finish(1006, "");
      },
    );
  }

  /** Sends a text frame (a string) or a binary frame. */
  send(data: string | ArrayBuffer | Uint8Array): void {
    if (!this.raw || this.readyState !== StallableWebSocket.OPEN) return;
    if (typeof data === "string") this.raw.sendText(data);
    else this.raw.sendBinary(data instanceof Uint8Array ? data : new Uint8Array(data));
  }

  /** Starts the closing handshake (or gives up a connection still opening). */
  close(code = 1000, reason = ""): void {
    if (this.readyState >= StallableWebSocket.CLOSING) return;
    this.readyState = StallableWebSocket.CLOSING;
    this.closeAsked = { code, reason };
    this.raw?.close(code, reason);
  }

  /** Stops reading from the socket (nothing more is delivered until `resume`). */
  pause(): void {
    this.raw?.pause();
  }

  /** Reads again. */
  resume(): void {
    this.raw?.resume();
  }

  private opened(raw: RawSocket): void {
    this.raw = raw;
    this.protocol = raw.handshakeHeaders["sec-websocket-protocol"] ?? "";
    raw.socket.on("close", () => {
      const f = raw.closeFrame;
      this.finish(f ? (f.code ?? 1005) : 1006, f?.reason ?? "");
    });
    if (this.closeAsked) {
      raw.close(this.closeAsked.code, this.closeAsked.reason);
      return;
    }
    if (raw.tcpClosed) return this.finish(1006, "");
    this.readyState = StallableWebSocket.OPEN;
    this.wasOpen = true;
    if (this.owner?.paused) raw.pause();
    this.onopen?.({ type: "open" });
    const early = this.early ?? [];
    this.early = undefined;
    for (const m of early) this.deliver(m);
  }

  private deliver(m: RawMessage): void {
    if (this.early) {
      this.early.push(m);
      return;
    }
    if (this.ended) return;
    const data = m.opcode === Opcode.Text ? this.decoder.decode(m.data) : m.data.buffer.slice(m.data.byteOffset, m.data.byteOffset + m.data.byteLength);
    this.onmessage?.({ data: data as string | ArrayBuffer });
  }

  private finish(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.readyState = StallableWebSocket.CLOSED;
    this.owner?.closed(this);
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }
}

/**
 * Where one SDK client's connections go and whether they read: give the SDK `websocket:
 * transport.websocket`. Each new connection asks `route` for its URL (a load balancer's choice:
 * the client's own gateway, another once that one refuses), and `pause()` stalls the connection
 * open now until `resume()`.
 */
export class StallableTransport {
  /** The connection open (or opening) now. */
  current: StallableWebSocket | undefined;
  /** True between `pause()` and `resume()`. */
  paused = false;
  /** The SDK's `websocket` option. */
  readonly websocket: new (url: string, protocols?: string | string[]) => StallableWebSocket;
  /** True when the last connection ended without ever opening (refused, or the handshake failed). */
  private lastFailed = false;

  /** `route(url, failedBefore)`: the URL to open instead of the SDK's `url`; `failedBefore` is true when the previous connection never opened. */
  constructor(route: (url: string, failedBefore: boolean) => string = (url) => url) {
    const transport = this;
    this.websocket = class extends StallableWebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(route(url, transport.lastFailed), protocols, transport);
      }
    };
  }

  /** Stops reading on the connection open now (and on the next one, until `resume`). */
  pause(): void {
    this.paused = true;
    this.current?.pause();
  }

  /** Reads again. */
  resume(): void {
    this.paused = false;
    this.current?.resume();
  }

  /** @internal A connection starts. */
  opening(ws: StallableWebSocket): void {
    this.current = ws;
  }

  /** @internal A connection ended. */
  closed(ws: StallableWebSocket): void {
    this.lastFailed = !ws.wasOpen;
    if (this.current === ws) this.current = undefined;
  }
}
