import { describe, expect, test } from "bun:test";
import { Conn, clientFrame, type ConnSink } from "./conn.ts";

/** An unmasked server frame with `len` payload bytes of `fill`. */
function serverFrame(opcode: number, len: number, fill = 97): Uint8Array {
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + ext + len);
  out[0] = 0x80 | opcode;
  if (ext === 0) out[1] = len;
  else if (ext === 2) {
    out[1] = 126;
    out[2] = len >> 8;
    out[3] = len & 0xff;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  out.fill(fill, 2 + ext);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** An upgraded connection that records what it counts and decodes. */
function recorder(decodeText: boolean) {
  const seen = { frames: 0, texts: [] as string[] };
  const sink: ConnSink = {
    settled() {},
    frames(_c, n) {
      seen.frames += n;
    },
    text(_c, t) {
      seen.texts.push(t);
    },
    closed() {},
  };
  const conn = new Conn(0, "127.0.0.1", 1, "/", decodeText, sink);
  conn.upgraded = true;
  return { conn, seen };
}

describe("Conn frame counting", () => {
  const sizes = [0, 1, 125, 126, 127, 200, 65_535, 65_536, 70_000];
  const frames = sizes.map((n, i) => serverFrame(0x1, n, 97 + i));
  // A pong between data frames is not a delivery.
  const stream = concat([frames[0]!, serverFrame(0xa, 3), ...frames.slice(1)]);

  for (const decodeText of [false, true]) {
    test(`counts every frame whatever the chunking (${decodeText ? "decoding" : "counting only"})`, () => {
      for (let trial = 0; trial < 50; trial++) {
        const { conn, seen } = recorder(decodeText);
        for (let i = 0; i < stream.byteLength; ) {
          const n = 1 + Math.floor(Math.random() * (trial % 2 ? 4 : 5000));
          conn.onData(stream.subarray(i, i + n));
          i += n;
        }
        expect(seen.frames).toBe(sizes.length);
        expect(conn.frames).toBe(sizes.length);
        if (decodeText) expect(seen.texts.map((t) => t.length)).toEqual(sizes);
      }
    });
  }
});

describe("clientFrame", () => {
  test("masks with a zero key, so the payload goes out as it is", () => {
    const f = clientFrame(0x1, new TextEncoder().encode("hi"));
    expect([...f]).toEqual([0x81, 0x82, 0, 0, 0, 0, 104, 105]);
  });

  test("uses the 16-bit length from 126 bytes", () => {
    const f = clientFrame(0x1, new Uint8Array(300));
    expect([f[1], f[2], f[3]]).toEqual([0x80 | 126, 1, 44]);
    expect(f.byteLength).toBe(2 + 2 + 4 + 300);
  });
});

describe("counting lines", () => {
  test("a text frame of several lines counts one message per line, across chunk boundaries; binary frames count once", () => {
    const seen = { messages: 0, wsFrames: 0 };
    const sink: ConnSink = {
      settled() {},
      frames(_c, n, _bytes, ws) {
        seen.messages += n;
        seen.wsFrames += ws;
      },
      text() {},
      closed() {},
    };
    const c = new Conn(0, "h", 1, "/", false, sink, undefined, true);
    (c as unknown as { upgraded: boolean }).upgraded = true;
    const text = (t: string) => {
      const body = new TextEncoder().encode(t);
      const f = serverFrame(1, body.byteLength);
      f.set(body, f.byteLength - body.byteLength);
      return f;
    };
    const all = concat([text("a\nb\nc"), serverFrame(2, 5, 10), text("one"), text("x\ny")]);
    for (let i = 0; i < all.byteLength; i += 3) c.onData(all.subarray(i, Math.min(all.byteLength, i + 3)));
    expect(seen).toEqual({ messages: 3 + 1 + 1 + 2, wsFrames: 4 });
  });
});
