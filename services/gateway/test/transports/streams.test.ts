// Streaming answers on a real Bun.serve and real sockets: a stalled reader is cut with bounded
// memory, a reader that keeps up gets everything, closing writes the disconnect push, a client
// that leaves is noticed, and Bun's idle timeout does not end a quiet stream.
import { afterEach, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import type { Server } from "bun";
import { waitFor } from "@rt/testkit";
import { MAX_CHUNK_BYTES } from "../../src/transports/bounded-stream.ts";
import { Hub } from "../../src/transports/hub.ts";
import { openHttpStream, STREAM_HEADERS } from "../../src/transports/http-stream.ts";
import { OpenStreams, SLOW } from "../../src/transports/open-streams.ts";
import { openSse } from "../../src/transports/sse.ts";
import type { StreamClose, StreamTransport } from "../../src/transports/stream-transport.ts";

const LIMIT = 256 * 1024;
const servers: Server<unknown>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

/** A server whose every request opens a stream (`sse` or http_stream JSON); the transports opened and how each closed. */
function streamServer(opts: { sse?: boolean; idleTimeout?: number; limit?: number; closeGraceMs?: number } = {}) {
  const hub = new Hub(() => undefined);
  const opened: StreamTransport[] = [];
  const closes: StreamClose[] = [];
  const streams = new OpenStreams();
  const server = Bun.serve({
    port: 0,
    ...(opts.idleTimeout === undefined ? {} : { idleTimeout: opts.idleTimeout }),
    fetch(req, srv) {
      // A plain request that is never answered (no stream, so Bun's idle timeout applies to it).
      if (new URL(req.url).pathname === "/plain") return new Promise<Response>(() => undefined);
      const o = { limitBytes: opts.limit ?? LIMIT, hub, server: srv, req, closeGraceMs: opts.closeGraceMs };
      const { transport, response } = opts.sse ? openSse({ ...o, unidirectional: false }) : openHttpStream({ ...o, encoding: "json", unidirectional: false });
      transport.onClose((why) => closes.push(why));
      streams.add(transport);
      opened.push(transport);
      return response;
    },
  });
  servers.push(server);
  return { server, hub, opened, closes, streams, url: `http://127.0.0.1:${server.port}/` };
}

/** A raw client that sends one POST and then reads nothing (its kernel buffers fill, then the server's). */
async function stalledClient(port: number): Promise<{ sock: Socket; gone: Promise<string> }> {
  const sock = connect(port, "127.0.0.1");
  const gone = new Promise<string>((resolve) => {
    sock.on("error", (e) => resolve((e as NodeJS.ErrnoException).code ?? String(e)));
    sock.on("close", () => resolve("close"));
  });
  await new Promise<void>((resolve) => sock.on("connect", () => resolve()));
  sock.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  sock.pause();
  return { sock, gone };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const frameOf = (n: number, size: number) => JSON.stringify({ push: { channel: "c", pub: { data: { n, pad: "x".repeat(size) } } } });

describe("a reader that stalls", () => {
  test("is cut by a write past the hard limit: write false, closed as slow, the connection reset; never more queued than that limit", async () => {
    const s = streamServer();
    const { gone } = await stalledClient(s.server.port!);
    await waitFor("stream opened", () => s.opened.length === 1);
    const t = s.opened[0]!;
    t.subscribe("c:room");
    const frame = frameOf(0, 16 * 1024);
    const hard = 2 * LIMIT + 4 * MAX_CHUNK_BYTES;
    let written = 0;
    let maxQueued = 0;
    // Writes until refused (the kernel's socket buffers fill first, a few MB on loopback), yielding so Bun can drain.
    while (t.write(frame)) {
      written += frame.length + 1;
      maxQueued = Math.max(maxQueued, t.bufferedBytes());
      if (written > 256 * 1024 * 1024) throw new Error("never cut");
      await turn();
    }
    expect(maxQueued).toBeLessThanOrEqual(hard);
    expect(maxQueued).toBeGreaterThan(hard - frame.length - 2); // it did fill up to the limit
    expect(t.closed).toBe(true);
    expect(t.closedBy).toBe("slow");
    expect(s.closes).toEqual(["slow"]);
    expect(t.bufferedBytes()).toBe(0); // the queue is dropped
    expect(s.hub.sinkCount("c:room")).toBe(0); // out of its topics
    expect(s.streams.size).toBe(0);
    expect(t.write("{}")).toBe(false);
    expect(await gone).toBe("ECONNRESET"); // the server reset the connection: its socket is free
  });

  test("over the limit at a sweep, it is closed as slow (the disconnect push could not reach it): reset at once", async () => {
    const s = streamServer();
    const { gone } = await stalledClient(s.server.port!);
    await waitFor("stream opened", () => s.opened.length === 1);
    const t = s.opened[0]!;
    const frame = frameOf(0, 16 * 1024);
    let looks = 0;
    s.streams.add(t, () => looks++);
    s.streams.sweep();
    expect(looks).toBe(1);
    while (!t.slow) {
      expect(t.write(frame)).toBe(true);
      await turn();
    }
    s.streams.sweep();
    expect(looks).toBe(1);
    expect(t.closedBy).toBe("slow");
    expect(await gone).toBe("ECONNRESET");
    expect(SLOW.code).toBe(3008);
  });

  test("a closed stream its reader never finishes reading is cut after the grace period", async () => {
    const s = streamServer({ closeGraceMs: 300 });
    const { gone } = await stalledClient(s.server.port!);
    await waitFor("stream opened", () => s.opened.length === 1);
    const t = s.opened[0]!;
    const frame = frameOf(0, 16 * 1024);
    while (t.bufferedBytes() < LIMIT / 2) {
      expect(t.write(frame)).toBe(true);
      await turn();
    }
    t.close({ code: 3001, reason: "shutdown" });
    expect(s.closes).toEqual(["server"]);
    expect(await gone).toBe("ECONNRESET");
  });
});

/** Reads a streaming body to its end (or until `until` says stop), as text. */
async function readAll(res: Response, until?: (text: string) => boolean): Promise<string> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text;
    text += dec.decode(value, { stream: true });
    if (until?.(text)) {
      await reader.cancel();
      return text;
    }
  }
}

describe("a reader that keeps up", () => {
  test("gets every frame in order, many times the limit, then the disconnect push, then the end", async () => {
    const s = streamServer();
    const pending = fetch(s.url, { method: "POST" });
    await waitFor("stream opened", () => s.opened.length === 1);
    const t = s.opened[0]!;
    const n = 400;
    const frames = Array.from({ length: n }, (_, i) => frameOf(i, 8 * 1024));
    const writing = (async () => {
      for (const f of frames) {
        expect(t.write(f)).toBe(true);
        // The producer goes on as long as the reader keeps the queue under the limit (as a sweep would check).
        while (t.bufferedBytes() > LIMIT) await turn();
      }
      t.close({ code: 3001, reason: "shutdown" });
    })();
    const res = await pending;
    expect(res.status).toBe(200);
    for (const [k, v] of Object.entries(STREAM_HEADERS)) expect(res.headers.get(k)).toBe(v);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    const text = await readAll(res);
    await writing;
    const lines = text.split("\n");
    expect(lines.at(-1)).toBe("");
    expect(lines.length).toBe(n + 2);
    expect(lines.slice(0, n)).toEqual(frames);
    expect(JSON.parse(lines[n]!)).toEqual({ push: { disconnect: { code: 3001, reason: "shutdown" } } });
    expect(n * 8 * 1024).toBeGreaterThan(10 * LIMIT);
    expect(s.closes).toEqual(["server"]);
  });

  test("SSE: text/event-stream, opened at once (an empty line first), one event per reply", async () => {
    const s = streamServer({ sse: true });
    const res = await fetch(s.url); // resolves before any frame: the preamble carries the headers
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    const t = s.opened[0]!;
    t.writeMany(['{"id":1,"connect":{"client":"c"}}', frameOf(1, 1)]);
    t.close({ code: 3501, reason: "bad request" });
    const text = await readAll(res);
    expect(text).toBe(`\r\ndata: {"id":1,"connect":{"client":"c"}}\n\ndata: ${frameOf(1, 1)}\n\ndata: {"push":{"disconnect":{"code":3501,"reason":"bad request"}}}\n\n`);
  });
});

describe("the client going away", () => {
  test("closes the transport as peer: out of its topics and of the open streams", async () => {
    const s = streamServer({ sse: true });
    const ac = new AbortController();
    const res = await fetch(s.url, { signal: ac.signal });
    const t = s.opened[0]!;
    t.subscribe("c:room");
    expect(s.hub.sinkCount("c:room")).toBe(1);
    expect(s.streams.size).toBe(1);
    void readAll(res).catch(() => undefined);
    ac.abort();
    await waitFor("peer noticed", () => t.closed);
    expect(s.closes).toEqual(["peer"]);
    expect(s.hub.sinkCount("c:room")).toBe(0);
    expect(s.streams.size).toBe(0);
    expect(t.write("{}")).toBe(false);
  });
});

describe("Bun's idle timeout", () => {
  test.each([
    ["SSE", true, 'data: {"late":true}'],
    ["HTTP-streaming", false, '{"late":true}'],
  ] as const)("does not end a quiet %s stream (it ends a plain request after idleTimeout): a frame written after it still arrives", async (_kind, sse, late) => {
    const s = streamServer({ sse, idleTimeout: 1 });
    // An HTTP-streaming answer's headers go with its first frame: the response comes with "late".
    const response = fetch(s.url, { method: sse ? "GET" : "POST" });
    response.catch(() => undefined); // awaited below
    await waitFor("the stream opened", () => s.opened.length === 1);
    const t = s.opened[0]!;
    // Positive control: a plain request opened after the stream, never answered, is ended by Bun's
    // idle timeout; the stream, quiet for longer, would have been ended by the same sweep.
    let plainEnded = false;
    void fetch(`${s.url}plain`).then(() => undefined, () => undefined).finally(() => (plainEnded = true));
    await waitFor("Bun's idle timeout ended the plain request", () => plainEnded, 20_000);
    expect(s.opened).toHaveLength(1);
    expect(t.closed).toBe(false);
    t.write('{"late":true}');
    expect(await readAll(await response, (text) => text.includes("late"))).toContain(late);
  });
});

describe("closing everything at shutdown", () => {
  test("closeAll writes each stream's disconnect push and ends it", async () => {
    const s = streamServer();
    const a = fetch(s.url, { method: "POST" });
    const b = fetch(s.url, { method: "POST" });
    await waitFor("two streams", () => s.opened.length === 2);
    s.streams.closeAll({ code: 3001, reason: "shutdown" });
    for (const res of await Promise.all([a, b])) expect(JSON.parse(await res.text())).toEqual({ push: { disconnect: { code: 3001, reason: "shutdown" } } });
    expect(s.streams.size).toBe(0);
  });
});
