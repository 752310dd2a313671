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
    const c = new Conn(0, "h", 1, "/", false, sink, undefined, "lines");
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

describe("counting v1 pushes (the Go centrifuge library's JSON protocol)", () => {
  test("counts push lines only, not replies nor the newline ending every line, whatever the chunking", () => {
    const text = (t: string) => {
      const body = new TextEncoder().encode(t);
      const f = serverFrame(1, body.byteLength);
      f.set(body, f.byteLength - body.byteLength);
      return f;
    };
    // What the library sends: replies and pushes, at most 4 per frame, each line ending with a newline.
    const push = (n: number) => `{"result":{"channel":"chat:r","data":{"data":{"x":"${n}"},"offset":${n}}}}\n`;
    const reply = `{"id":3,"result":{}}\n`;
    const all = concat([
      text(`{"id":1,"result":{"client":"c"}}\n{"id":2,"result":{"recoverable":true,"epoch":"e"}}\n`),
      text(push(1) + reply + push(2) + reply),
      serverFrame(2, 5, 10),
      text(push(3)),
      text(`${reply}${reply}${push(4)}${push(5)}${push(6)}`),
    ]);
    for (const step of [1, 2, 3, 7, all.byteLength]) {
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
      const c = new Conn(0, "h", 1, "/", false, sink, undefined, "v1");
      c.upgraded = true;
      for (let i = 0; i < all.byteLength; i += step) c.onData(all.subarray(i, Math.min(all.byteLength, i + step)));
      expect({ step, ...seen }).toEqual({ step, messages: 6, wsFrames: 5 });
    }
  });
});

describe("Engine.IO (Socket.IO) mode", () => {
  /** A server text frame carrying `t`. */
  const text = (t: string) => {
    const body = new TextEncoder().encode(t);
    const f = serverFrame(1, body.byteLength);
    f.set(body, f.byteLength - body.byteLength);
    return f;
  };
  const decode = (b: Uint8Array | string) => (typeof b === "string" ? b : new TextDecoder().decode(b));

  /** A connection over a fake socket that records what it writes and what it reports. */
  function socketIoConn() {
    const writes: (Uint8Array | string)[] = [];
    const seen = { messages: 0, wsFrames: 0, settled: [] as { ok: boolean; why?: string }[] };
    const sink: ConnSink = {
      settled(_c, ok, why) {
        seen.settled.push({ ok, ...(why === undefined ? {} : { why }) });
      },
      frames(_c, n, _bytes, ws) {
        seen.messages += n;
        seen.wsFrames += ws;
      },
      text() {},
      closed() {},
    };
    const c = new Conn(0, "127.0.0.1", 1, "/socket.io/?EIO=4&transport=websocket&room=r", false, sink, undefined, "engine.io");
    const socket = {
      setNoDelay() {},
      write(b: Uint8Array | string) {
        writes.push(typeof b === "string" ? b : b.slice());
        return typeof b === "string" ? b.length : b.byteLength;
      },
      end() {},
      terminate() {},
    };
    c.onOpen(socket as unknown as Parameters<Conn["onOpen"]>[0]);
    /** Client frames written after the upgrade request, as text (the mask key is 0: the payload follows the 6-byte header). */
    const frames = () => writes.slice(1).map((w) => decode((w as Uint8Array).subarray(6)));
    return { c, writes, seen, frames };
  }

  test("sends Socket.IO's CONNECT after the upgrade and opens on the server's CONNECT reply", () => {
    const { c, writes, seen, frames } = socketIoConn();
    expect(decode(writes[0]!)).toStartWith("GET /socket.io/?EIO=4&transport=websocket&room=r HTTP/1.1\r\n");
    const open = text('0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}');
    c.onData(concat([new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), open]));
    expect(c.upgraded).toBe(true);
    expect(frames()).toEqual(["40"]);
    expect(seen.settled).toEqual([]);
    c.onData(text('40{"sid":"def"}'));
    expect(seen.settled).toEqual([{ ok: true }]);
    expect(c.ready).toBe(true);
    expect(seen.messages).toBe(0);
  });

  test("a CONNECT error fails the open", () => {
    const { c, seen } = socketIoConn();
    c.onData(new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\n\r\n"));
    c.onData(text('44{"message":"nope"}'));
    expect(seen.settled).toEqual([{ ok: false, why: "Socket.IO connect error" }]);
    expect(c.ready).toBe(false);
  });

  test("counts only event packets, whatever the chunking, and answers every ping with a pong", () => {
    const event = (i: number) => text(`42["msg","${"x".repeat(i % 3 === 0 ? 32 : i * 40)}"]`);
    const parts: Uint8Array[] = [text('40{"sid":"a"}')];
    let events = 0;
    let pings = 0;
    for (let i = 0; i < 40; i++) {
      parts.push(event(i));
      events++;
      if (i % 7 === 0) {
        parts.push(text("2"));
        pings++;
      }
      // Other packets: a noop, a Socket.IO ack, a pong-like 3, a one-byte 4, a "2probe": none is a message or a ping.
      if (i % 11 === 0) parts.push(text("6"), text('43[1]'), text("3"), text("4"), text("2probe"));
      // A WebSocket ping and an empty text frame between packets.
      if (i % 13 === 0) parts.push(serverFrame(0x9, 2), serverFrame(0x1, 0));
    }
    const all = concat(parts);
    for (const max of [1, 2, 3, 7, 100, 100_000]) {
      const { c, seen, frames } = socketIoConn();
      c.onData(new TextEncoder().encode("HTTP/1.1 101 Switching Protocols\r\n\r\n"));
      for (let i = 0; i < all.byteLength; ) {
        const n = 1 + Math.floor(Math.random() * max);
        c.onData(all.subarray(i, i + n));
        i += n;
      }
      expect(seen.settled).toEqual([{ ok: true }]);
      expect(seen).toMatchObject({ messages: events, wsFrames: events });
      expect(c.frames).toBe(events);
      const sent = frames();
      expect(sent.filter((f) => f === "3")).toHaveLength(pings);
      expect(sent[0]).toBe("40");
    }
  });
});
