import type { Socket, SocketHandler } from "bun";
import { wallNow } from "./messages.ts";

/** What a connection reports to its worker. */
export interface ConnSink {
  /** The upgrade finished (101; for Socket.IO, its CONNECT reply) or failed. */
  settled(c: Conn, ok: boolean, why?: string): void;
  /** A chunk arrived carrying `messages` new messages (data frames, or their lines when counting lines) in `wsFrames` data frames. */
  frames(c: Conn, messages: number, bytes: number, wsFrames: number): void;
  /** notify mode: one complete text frame, received at wall-clock `at`. */
  text(c: Conn, text: string, at: number): void;
  /** The socket is gone (`expected`: we closed it). */
  closed(c: Conn, expected: boolean, code: number | undefined): void;
}

// Any 16 bytes in base64: the server only hashes it into Sec-WebSocket-Accept, which we do not check.
const KEY = "YmVuY2gtY2xpZW50LWtleQ==";
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** A masked client frame. The mask key is 0, so the payload goes out unchanged (a legal frame; browsers must randomise, a load generator need not). */
export function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const len = payload.byteLength;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + ext + 4 + len);
  out[0] = 0x80 | opcode;
  if (ext === 0) out[1] = 0x80 | len;
  else if (ext === 2) {
    out[1] = 0x80 | 126;
    out[2] = len >>> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  out.set(payload, 2 + ext + 4);
  return out;
}

const CLOSE_1000 = clientFrame(0x8, new Uint8Array([0x03, 0xe8]));

/**
 * What a data frame counts as.
 * - `frames`: one message per data frame.
 * - `lines`: one message per line of a text frame (the client protocol batches pushes, one per line).
 * - `engine.io`: Socket.IO over Engine.IO v4's WebSocket transport; a text frame's first bytes are its
 *   packet type: only events (`42...`) are messages; pings (`2`) are answered (`3`); the socket
 *   sends Socket.IO's CONNECT (`40`) after the upgrade and is open once the server's `40{...}` arrives.
 * - `v1`: the Go centrifuge library's JSON protocol (v1): one message per push line of a text frame
 *   (`{"result":...`, the third byte `r`); reply lines (`{"id":...`) do not count. Its lines each end
 *   with a newline, so a frame's newlines are not its messages.
 */
export type Counting = "frames" | "lines" | "engine.io" | "v1";

/** `r`: the third byte of a v1 push line (`{"result":...`), where a reply line has `i` (`{"id":...`). */
const V1_PUSH = 0x72;

// Engine.IO packet types (first byte) and Socket.IO's within a message (second byte), read big-endian from a text frame's first bytes.
const EIO_PING = 0x32; // "2", a frame of its own
const SIO_EVENT = 0x3432; // "42"
const SIO_CONNECTED = 0x3430; // "40{"sid":...}"
const SIO_CONNECT_ERROR = 0x3434; // "44{...}"
const EIO_PONG = clientFrame(0x1, new Uint8Array([0x33]));
const SIO_CONNECT = clientFrame(0x1, new Uint8Array([0x34, 0x30]));

/**
 * One cheap WebSocket client over a raw TCP socket: the upgrade is written by hand, and
 * incoming frames are counted from their headers alone, payloads skipped, unless the
 * connection decodes text (notify mode) or the frame is a control frame (ping, close).
 */
export class Conn {
  socket: Socket<Conn> | undefined;
  upgraded = false;
  /** Open for the worker: upgraded, and for Socket.IO connected (its CONNECT reply arrived). */
  ready = false;
  /** We started the close. */
  closing = false;
  done = false;
  /** Data frames received since the upgrade. */
  frames = 0;
  /** The pump lane this socket paces (-1: none): the worker tops that lane up on every chunk it gets. */
  lane = -1;
  /** notify mode: the last `seq` seen, to spot duplicates. */
  lastSeq = 0;
  closeCode: number | undefined;
  private head = "";
  private skip = 0;
  private op = 0;
  private fin = false;
  private collect: Uint8Array[] | undefined;
  private part: Uint8Array | undefined;
  private partLen = 0;
  private out: Uint8Array[] = [];
  /** engine.io: leading bytes of the current text frame still to read, and those read so far (big-endian). */
  private tagNeed = 0;
  private tag = 0;
  /** v1: bytes of the current line read so far (3 or more once its kind is known). */
  private lineOff = 0;

  constructor(
    readonly index: number,
    readonly host: string,
    readonly port: number,
    readonly path: string,
    /** Decode text frames (notify mode; a protocol session turns it off once its subscribe reply is read). */
    public decodeText: boolean,
    private readonly sink: ConnSink,
    /** A frame sent right after the upgrade. */
    private readonly handshake?: Uint8Array,
    private readonly counting: Counting = "frames",
  ) {}

  onOpen(s: Socket<Conn>): void {
    this.socket = s;
    s.setNoDelay(true);
    s.write(
      `GET ${this.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  }

  onData(buf: Uint8Array): void {
    if (this.upgraded) {
      this.feed(buf, 0);
      return;
    }
    this.head += latin1.decode(buf);
    const end = this.head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (this.head.length > 16_384) this.fail("oversized upgrade response");
      return;
    }
    const status = this.head.slice(0, this.head.indexOf("\r\n"));
    if (!/^HTTP\/1\.1 101/.test(status)) {
      this.fail(status || "bad upgrade response");
      return;
    }
    const rest = this.head.length - (end + 4);
    this.head = "";
    this.upgraded = true;
    if (this.counting === "engine.io") this.send(SIO_CONNECT);
    if (this.handshake) this.send(this.handshake);
    if (this.counting !== "engine.io") this.settle();
    if (rest > 0) this.feed(buf, buf.byteLength - rest);
  }

  /** Writes a frame (or several, concatenated); what the kernel does not take now goes out on drain. */
  send(bytes: Uint8Array): void {
    const s = this.socket;
    if (!s || this.done) return;
    if (this.out.length > 0) {
      this.out.push(bytes);
      return;
    }
    const n = s.write(bytes);
    if (n < bytes.byteLength) this.out.push(bytes.subarray(Math.max(0, n)));
  }

  onDrain(): void {
    const s = this.socket;
    while (s && this.out.length > 0) {
      const b = this.out[0]!;
      const n = s.write(b);
      if (n >= b.byteLength) this.out.shift();
      else {
        this.out[0] = b.subarray(Math.max(0, n));
        return;
      }
    }
  }

  /** Sends close 1000 and ends the socket. */
  close(): void {
    if (this.done || this.closing) return;
    this.closing = true;
    if (this.upgraded) this.send(CLOSE_1000);
    this.socket?.end();
  }

  /** Drops the socket without a close handshake. */
  terminate(): void {
    this.closing = true;
    this.socket?.terminate();
  }

  onClose(): void {
    if (this.done) return;
    this.done = true;
    if (!this.ready) this.sink.settled(this, false, this.upgraded ? "closed before Socket.IO's CONNECT reply" : "closed before the upgrade");
    this.sink.closed(this, this.closing, this.closeCode);
  }

  private settle(): void {
    this.ready = true;
    this.sink.settled(this, true);
  }

  fail(why: string): void {
    if (this.done) return;
    if (this.ready) {
      // An error on an open socket: it is gone, as if closed without a close frame.
      this.socket?.terminate();
      this.onClose();
      return;
    }
    this.done = true;
    this.closing = true;
    this.socket?.terminate();
    this.sink.settled(this, false, why);
  }

  /** Walks the frame headers in `buf` from `i`, skipping payloads it does not need. */
  private feed(buf: Uint8Array, i: number): void {
    const n = buf.byteLength;
    const countLines = this.counting === "lines";
    const eio = this.counting === "engine.io";
    const v1 = this.counting === "v1";
    let frames = 0;
    let lines = 0;
    const at = this.decodeText ? wallNow() : 0;
    /** The next newline at or after the last position looked at (n: none in this buffer); found natively, each byte looked at once. */
    let nl = -1;
    while (i < n) {
      if (this.skip > 0) {
        if (this.tagNeed > 0) {
          // engine.io: peek at the packet type (at most 2 bytes, never more than the frame has left).
          const k = Math.min(this.tagNeed, n - i);
          for (let j = 0; j < k; j++) this.tag = (this.tag << 8) | buf[i + j]!;
          this.tagNeed -= k;
          if (this.tagNeed === 0) frames += this.engineIo();
        }
        const take = Math.min(this.skip, n - i);
        if (countLines && this.op === 1) {
          const end = i + take;
          for (;;) {
            if (nl < i) nl = buf.indexOf(10, i);
            if (nl === -1) nl = n;
            if (nl >= end) break;
            lines++;
            nl = buf.indexOf(10, nl + 1);
            if (nl === -1) nl = n;
          }
        }
        if (v1 && this.op === 1) lines += this.v1Pushes(buf, i, i + take);
        if (this.collect) this.collect.push(buf.slice(i, i + take));
        this.skip -= take;
        i += take;
        if (this.skip === 0 && this.collect) this.finish(at);
        continue;
      }
      // A frame header: 2 bytes, then 0, 2 or 8 bytes of length (server frames are unmasked).
      let h = buf;
      let p = i;
      let avail = n - i;
      let fromPart = 0;
      if (this.partLen > 0) {
        const part = this.part!;
        fromPart = this.partLen;
        const copy = Math.min(part.byteLength - fromPart, avail);
        part.set(buf.subarray(i, i + copy), fromPart);
        h = part;
        p = 0;
        avail = fromPart + copy;
      }
      const len7 = avail >= 2 ? h[p + 1]! & 127 : 0;
      const hlen = avail < 2 ? 2 : len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
      if (avail < hlen) {
        this.part ??= new Uint8Array(10);
        if (fromPart === 0) this.part.set(buf.subarray(i, n), 0);
        this.partLen = avail;
        break;
      }
      const b0 = h[p]!;
      let len = len7;
      if (len7 === 126) len = (h[p + 2]! << 8) | h[p + 3]!;
      else if (len7 === 127) len = h[p + 6]! * 2 ** 24 + ((h[p + 7]! << 16) | (h[p + 8]! << 8) | h[p + 9]!);
      i += hlen - fromPart;
      this.partLen = 0;
      const op = b0 & 15;
      this.fin = (b0 & 0x80) !== 0;
      if (op < 8) {
        // engine.io counts a frame once its packet type is known (below); servers do not fragment them.
        if (this.fin && !eio) frames++;
        this.op = op === 0 ? this.op : op;
      }
      if (eio && op === 1) {
        this.tag = 0;
        this.tagNeed = Math.min(2, len);
      }
      if (v1 && op === 1) this.lineOff = 0;
      const keep = op >= 8 || (this.decodeText && op === 1);
      this.collect = keep ? [] : undefined;
      if (keep) this.op = op;
      this.skip = len;
      if (len === 0 && keep) this.finish(at);
    }
    const messages = v1 ? lines : frames + lines;
    this.frames += messages;
    this.sink.frames(this, messages, n, frames);
  }

  /** v1: push lines starting in buf[from, end) (a part of one text frame's payload), continuing the line in progress. */
  private v1Pushes(buf: Uint8Array, from: number, end: number): number {
    let pushes = 0;
    let p = from;
    while (p < end) {
      if (this.lineOff < 3) {
        const at = p + 2 - this.lineOff;
        if (at >= end) {
          this.lineOff += end - p;
          break;
        }
        if (buf[at] === V1_PUSH) pushes++;
        this.lineOff = 3;
        p = at + 1;
      }
      const nl = buf.indexOf(10, p);
      if (nl === -1 || nl >= end) break;
      this.lineOff = 0;
      p = nl + 1;
    }
    return pushes;
  }

  /** engine.io: acts on a text frame's packet type; 1 for an event (a message), 0 otherwise. */
  private engineIo(): number {
    switch (this.tag) {
      case SIO_EVENT:
        return 1;
      case EIO_PING:
        this.send(EIO_PONG);
        return 0;
      case SIO_CONNECTED:
        if (!this.ready) this.settle();
        return 0;
      case SIO_CONNECT_ERROR:
        this.fail("Socket.IO connect error");
        return 0;
      default:
        return 0;
    }
  }

  private finish(at: number): void {
    const parts = this.collect!;
    this.collect = undefined;
    const payload = parts.length === 1 ? parts[0]! : concat(parts);
    switch (this.op) {
      case 0x1:
        if (this.fin) this.sink.text(this, utf8.decode(payload), at);
        break;
      case 0x8:
        this.closeCode = payload.byteLength >= 2 ? (payload[0]! << 8) | payload[1]! : 1005;
        if (!this.closing) {
          this.send(clientFrame(0x8, payload.subarray(0, 2)));
          this.socket?.end();
        }
        break;
      case 0x9:
        this.send(clientFrame(0xa, payload));
        break;
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.byteLength;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** One handler object for every connection (state lives in `socket.data`). */
export const connHandlers: SocketHandler<Conn> = {
  open: (s) => s.data.onOpen(s),
  data: (s, buf) => s.data.onData(buf),
  drain: (s) => s.data.onDrain(),
  close: (s) => s.data.onClose(),
  end: (s) => {
    s.end();
  },
  error: (s, err) => s.data.fail(String(err)),
  connectError: (s, err) => s.data.fail(`connect: ${String(err)}`),
};
