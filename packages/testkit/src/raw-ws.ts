import { createHash, randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { Conditions } from "./conditions.ts";

/** WebSocket opcodes (RFC 6455 section 5.2). */
export const Opcode = { Continuation: 0x0, Text: 0x1, Binary: 0x2, Close: 0x8, Ping: 0x9, Pong: 0xa } as const;

/** One frame as it was on the wire. */
export interface RawFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Buffer;
}

/** A whole (reassembled) data message. */
export interface RawMessage {
  opcode: number;
  data: Buffer;
}

/** How to build a frame; every field may break the protocol on purpose. */
export interface FrameOptions {
  /** FIN bit (default true). */
  fin?: boolean;
  /** RSV1-3 bits, 0-7 (default 0). */
  rsv?: number;
  /** Mask the payload as a client must (default true). */
  mask?: boolean;
  /** Length written in the header instead of the payload's real length. */
  claimedLength?: number | bigint;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Encodes one frame, masked with a random key unless `mask: false`. */
export function encodeFrame(opcode: number, payload: Uint8Array | string = new Uint8Array(0), opts: FrameOptions = {}): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const mask = opts.mask ?? true;
  const len = opts.claimedLength ?? body.length;
  const n = BigInt(len);
  const head: number[] = [((opts.fin ?? true) ? 0x80 : 0) | (((opts.rsv ?? 0) & 7) << 4) | (opcode & 0xf)];
  const maskBit = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (n < 126n) head.push(maskBit | Number(n));
  else if (n < 65536n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(n));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(n);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, body]);
  const key = randomBytes(4);
  const masked = Buffer.allocUnsafe(body.length);
  for (let i = 0; i < body.length; i++) masked[i] = body[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

/** The close payload: a 2-byte code and a UTF-8 reason. */
export function closePayload(code: number, reason = ""): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason, "utf8")]);
}

/** An HTTP answer that was not `101 Switching Protocols`. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number, readonly headers: Record<string, string>, readonly body: string) {
    super(`upgrade refused: ${status} ${body}`);
    this.name = "UpgradeRefused";
  }
}

/** Options for a raw connection. */
export interface RawOpenOptions {
  /** Extra request headers (they override the defaults, so a handshake can be broken on purpose). */
  headers?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Answer pings with pongs (default true). */
  autoPong?: boolean;
  /** Keep every data message (default true; off for floods where only counts matter). */
  keepMessages?: boolean;
  /** Called with every whole data message as it is read (kept or not). */
  onMessage?: (m: RawMessage) => void;
}

/**
 * A hand-made WebSocket client over a plain TCP socket (node:net): it can send any frame
 * (invalid UTF-8, reserved opcodes, unmasked, oversize headers), and it can stop reading
 * (`pause()`) so the server's output piles up, then `resume()` to see what was kept.
 */
export class RawSocket implements AsyncDisposable {
  readonly messages: RawMessage[] = [];
  /** Control and data frames, in order (payloads of data frames are dropped when keepMessages is off). */
  readonly controlFrames: RawFrame[] = [];
  /** Bytes read from the TCP socket after the handshake. */
  bytesReceived = 0;
  /** Data messages received (counted even when not kept). */
  messageCount = 0;
  /** The server's close frame, when one arrived. */
  closeFrame: { code: number | undefined; reason: string } | undefined;
  /** True once the TCP connection is gone. */
  tcpClosed = false;
  tcpError: string | undefined;
  /** The server's 101 answer's headers (lower-case names). */
  handshakeHeaders: Record<string, string> = {};
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private readonly conditions = new Conditions();
  private readonly keep: boolean;
  private readonly autoPong: boolean;
  private readonly onMessage: ((m: RawMessage) => void) | undefined;

  private constructor(readonly socket: Socket, opts: RawOpenOptions) {
    this.keep = opts.keepMessages ?? true;
    this.autoPong = opts.autoPong ?? true;
    this.onMessage = opts.onMessage;
  }

  /** Connects and completes the handshake; rejects with UpgradeRefused for any other answer. */
  static open(url: string, opts: RawOpenOptions = {}): Promise<RawSocket> {
    const u = new URL(url);
    return RawSocket.openPath(Number(u.port), u.pathname + u.search, opts);
  }

  /** Like open(), with `path` sent verbatim in the request line (no URL normalisation). */
  static openPath(port: number, path: string, opts: RawOpenOptions = {}): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.setNoDelay(true);
      const raw = new RawSocket(socket, opts);
      const key = randomBytes(16).toString("base64");
      const headers: Record<string, string | undefined> = {
        host: `127.0.0.1:${port}`,
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": key,
        "sec-websocket-version": "13",
        ...opts.headers,
      };
      let head = Buffer.alloc(0);
      let settled = false;
      const timer = setTimeout(() => fail(new Error(`handshake timed out: ${path}`)), opts.timeoutMs ?? 5000);
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        const lines = head.subarray(0, end).toString("latin1").split("\r\n");
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
        const hdrs: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(":");
          if (i > 0) hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        const rest = head.subarray(end + 4);
        if (status !== 101) {
          const want = Number(hdrs["content-length"] ?? NaN);
          if (Number.isFinite(want) && rest.length < want) return; // wait for the whole body
          settled = true;
          clearTimeout(timer);
          socket.off("data", onData);
          socket.destroy();
          reject(new UpgradeRefused(status, hdrs, rest.toString("utf8")));
          return;
        }
        const accept = createHash("sha1").update(key + GUID).digest("base64");
        if (hdrs["sec-websocket-accept"] !== accept) return fail(new Error(`bad Sec-WebSocket-Accept: ${hdrs["sec-websocket-accept"]}`));
        settled = true;
        clearTimeout(timer);
        raw.handshakeHeaders = hdrs;
        socket.off("data", onData);
        socket.on("data", (c: Buffer) => raw.onData(c));
        if (rest.length > 0) raw.onData(rest);
        resolve(raw);
      };
      socket.on("data", onData);
      socket.on("error", (err) => {
        raw.tcpError = String(err);
        fail(err);
      });
      socket.on("close", () => {
        raw.tcpClosed = true;
        raw.conditions.wake();
        fail(new Error(`connection closed during the handshake: ${path}`));
      });
      socket.on("connect", () => {
        let req = `GET ${path} HTTP/1.1\r\n`;
        for (const [k, v] of Object.entries(headers)) if (v !== undefined) req += `${k}: ${v}\r\n`;
        socket.write(req + "\r\n");
      });
    });
  }

  /** Sends one frame built by encodeFrame. */
  send(opcode: number, payload?: Uint8Array | string, opts?: FrameOptions): boolean {
    return this.write(encodeFrame(opcode, payload, opts));
  }

  /** A text frame; bytes are sent as they are, valid UTF-8 or not. */
  sendText(payload: string | Uint8Array): boolean {
    return this.send(Opcode.Text, payload);
  }

  sendBinary(payload: Uint8Array): boolean {
    return this.send(Opcode.Binary, payload);
  }

  /** Writes raw bytes; false when the kernel buffer is full (Node semantics). */
  write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  /** Stops reading: the kernel buffers fill, then the server's own buffer. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Every text message, decoded. */
  get texts(): string[] {
    return this.messages.filter((m) => m.opcode === Opcode.Text).map((m) => m.data.toString("utf8"));
  }

  /** Sends a close frame (code optional) and half-closes. */
  close(code?: number, reason = ""): void {
    if (this.socket.destroyed) return;
    this.send(Opcode.Close, code === undefined ? new Uint8Array(0) : closePayload(code, reason));
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves once `cond` holds (checked after every frame and on close). */
  until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const detail = () => ` (messages ${this.messageCount}, bytes ${this.bytesReceived}, close ${JSON.stringify(this.closeFrame)}, tcpClosed ${this.tcpClosed})`;
    return this.conditions.until(cond, what, timeoutMs, detail);
  }

  /** Waits for `n` data messages in all. */
  async waitForMessages(n: number, timeoutMs = 5000): Promise<RawMessage[]> {
    await this.until(() => this.messageCount >= n, `${n} messages`, timeoutMs);
    return this.messages;
  }

  /**
   * Waits until the connection ends; `code` is the close frame's code, 1005 for a close frame
   * without one, or 1006 when the TCP connection ended without a close frame.
   */
  async closed(timeoutMs = 5000): Promise<{ code: number; reason: string; tcpClosed: boolean }> {
    await this.until(() => this.closeFrame !== undefined || this.tcpClosed, "close", timeoutMs);
    if (this.closeFrame) return { code: this.closeFrame.code ?? 1005, reason: this.closeFrame.reason, tcpClosed: this.tcpClosed };
    return { code: 1006, reason: "", tcpClosed: true };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.parse();
    this.conditions.wake();
  }

  private parse(): void {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
    let buf = this.pending[0];
    if (!buf) return;
    let off = 0;
    for (;;) {
      if (buf.length - off < 2) break;
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      let len = b1 & 0x7f;
      let p = off + 2;
      if (len === 126) {
        if (buf.length - p < 2) break;
        len = buf.readUInt16BE(p);
        p += 2;
      } else if (len === 127) {
        if (buf.length - p < 8) break;
        len = Number(buf.readBigUInt64BE(p));
        p += 8;
      }
      const masked = (b1 & 0x80) !== 0;
      let key: Buffer | undefined;
      if (masked) {
        if (buf.length - p < 4) break;
        key = buf.subarray(p, p + 4);
        p += 4;
      }
      if (buf.length - p < len) break;
      let payload = Buffer.from(buf.subarray(p, p + len));
      if (key) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
      off = p + len;
      this.onFrame({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xf, payload });
      payload = Buffer.alloc(0);
    }
    const rest = buf.subarray(off);
    this.pending = rest.length ? [rest] : [];
    this.pendingBytes = rest.length;
  }

  private onFrame(f: RawFrame): void {
    if (f.opcode >= 0x8) {
      this.controlFrames.push(f);
      if (f.opcode === Opcode.Ping && this.autoPong && !this.socket.destroyed) this.send(Opcode.Pong, f.payload);
      if (f.opcode === Opcode.Close && !this.closeFrame) {
        const code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
        this.closeFrame = { code, reason: f.payload.subarray(2).toString("utf8") };
        if (!this.socket.destroyed) {
          this.send(Opcode.Close, f.payload.subarray(0, 2));
          this.socket.end();
        }
      }
      return;
    }
    if (f.opcode !== Opcode.Continuation) {
      this.fragmentOpcode = f.opcode;
      this.fragments = [];
    }
    if (this.keep || this.onMessage) this.fragments.push(f.payload);
    if (!f.fin) return;
    this.messageCount++;
    if (this.keep || this.onMessage) {
      const m = { opcode: this.fragmentOpcode, data: this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments) };
      if (this.keep) this.messages.push(m);
      this.onMessage?.(m);
    }
    this.fragments = [];
  }
}

/** The answer to one upgrade request sent verbatim: 101 (the socket is closed again) or the refusal's status, headers and body. */
export async function rawUpgrade(port: number, path: string, headers: Record<string, string | undefined> = {}, timeoutMs = 10_000): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  try {
    const s = await RawSocket.openPath(port, path, { headers, timeoutMs });
    s.destroy();
    return { status: 101, headers: {}, body: "" };
  } catch (err) {
    if (err instanceof UpgradeRefused) return { status: err.status, headers: err.headers, body: err.body };
    throw err;
  }
}
