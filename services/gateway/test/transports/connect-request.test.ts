// How each transport's connect is read and checked (limits, forms, methods), on plain Requests.
import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { centrifugo } from "@rt/protocol";
import {
  CONNECT_PARAM, parseBidiFrame, readHttpStreamConnect, readSseConnect, readUniHttpStreamConnect, readUniSseConnect, readUniWebSocketConnect,
} from "../../src/transports/connect-request.ts";
import { capacityRefusal, isRefusal, methodRefusal, originRefusal, readBody } from "../../src/transports/http-checks.ts";

const Command = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root.lookupType("rt.centrifugo.Command");
const LIMIT = 1024;
const base = "http://gw";
const get = (path: string, connect?: string) => {
  const url = new URL(path, base);
  if (connect !== undefined) url.searchParams.set(CONNECT_PARAM, connect);
  return { req: new Request(url.href), url };
};
const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) => new Request(new URL(path, base).href, { method: "POST", body, headers });
const status = (v: unknown) => (isRefusal(v) ? v.status : 200);

describe("bidirectional: a whole command frame, first a connect with an id", () => {
  const frame = JSON.stringify({ id: 1, connect: { token: "t", name: "js" } });

  test("http_stream JSON body (the SDK's initial data) and SSE cf_connect", async () => {
    const h = await readHttpStreamConnect(post("/connection/http_stream", frame, { "Content-Type": "application/json" }), LIMIT);
    expect(h).toEqual({ encoding: "json", frame, commands: [{ id: 1, connect: { token: "t", name: "js" } }] });
    const { req, url } = get("/connection/sse", frame);
    expect(await readSseConnect(req, url, LIMIT)).toEqual({ encoding: "json", frame, commands: [{ id: 1, connect: { token: "t", name: "js" } }] });
  });

  test("http_stream Protobuf (application/octet-stream): length-delimited Commands", async () => {
    const w = protobuf.Writer.create();
    Command.encodeDelimited({ id: 1, connect: { token: "t" } }, w);
    Command.encodeDelimited({ id: 2, subscribe: { channel: "chat:x" } }, w);
    const body = w.finish();
    const r = await readHttpStreamConnect(post("/connection/http_stream", body, { "Content-Type": "application/octet-stream" }), LIMIT);
    if (isRefusal(r)) throw new Error(r.message);
    expect(r.encoding).toBe("protobuf");
    expect([...(r.frame as Uint8Array)]).toEqual([...body]);
    expect(r.commands).toEqual([{ id: 1, connect: { token: "t" } }, { id: 2, subscribe: { channel: "chat:x" } }]);
  });

  test.each([
    ["a bare connect request (the unidirectional form)", JSON.stringify({ token: "t" })],
    ["a connect without id", JSON.stringify({ connect: {} })],
    ["another command first", `${JSON.stringify({ id: 1, subscribe: { channel: "x" } })}\n${frame}`],
    ["not JSON", "{"],
    ["a JSON array", "[1]"],
    ["an id that is not a number", JSON.stringify({ id: "1", connect: {} })],
  ])("refused (400): %s", (_n, text) => {
    expect(status(parseBidiFrame("json", text))).toBe(400);
  });

  test("limits and methods: over the body limit 413 (Content-Length or counted), GET to http_stream 405, SSE without cf_connect 400, cf_connect over the limit 413", async () => {
    expect(status(await readHttpStreamConnect(post("/connection/http_stream", "x".repeat(LIMIT + 1)), LIMIT))).toBe(413);
    const streamed = new Request(new URL("/connection/http_stream", base).href, {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode("x".repeat(400)));
          c.close();
        },
      }),
    });
    expect(status(await readHttpStreamConnect(streamed, LIMIT))).toBe(413);
    expect(status(await readHttpStreamConnect(new Request(new URL("/connection/http_stream", base).href), LIMIT))).toBe(405);
    const none = get("/connection/sse");
    expect(status(await readSseConnect(none.req, none.url, LIMIT))).toBe(400);
    const long = get("/connection/sse", JSON.stringify({ id: 1, connect: { token: "x".repeat(LIMIT) } }));
    expect(status(await readSseConnect(long.req, long.url, LIMIT))).toBe(413);
    expect(status(await readSseConnect(new Request(new URL("/connection/sse", base).href, { method: "PUT", body: "x" }), new URL("/connection/sse", base), LIMIT))).toBe(405);
  });
});

describe("unidirectional: a bare connect request", () => {
  const request = { token: "t", subs: { "#alice": { recover: true, offset: 5, epoch: "e1" } }, name: "curl" };

  test("uni_sse: cf_connect, or a POST body; nothing at all is an empty request (a connect proxy decides by cookies)", async () => {
    const g = get("/connection/uni_sse", JSON.stringify(request));
    expect(await readUniSseConnect(g.req, g.url, LIMIT)).toEqual(request);
    expect(await readUniSseConnect(post("/connection/uni_sse", JSON.stringify(request)), new URL("/connection/uni_sse", base), LIMIT)).toEqual(request);
    const bare = get("/connection/uni_sse");
    expect(await readUniSseConnect(bare.req, bare.url, LIMIT)).toEqual({});
  });

  test("uni_http_stream: a POST body; uni_websocket: the first text message", async () => {
    expect(await readUniHttpStreamConnect(post("/connection/uni_http_stream", JSON.stringify(request)), LIMIT)).toEqual(request);
    expect(readUniWebSocketConnect(JSON.stringify(request))).toEqual(request);
    expect(status(readUniWebSocketConnect(Buffer.from(JSON.stringify(request))))).toBe(400); // binary: not a connect
  });

  test.each([
    ["not JSON", "{"],
    ["an array", "[]"],
    ["a token that is not a string", JSON.stringify({ token: 1 })],
    ["a recovery offset that is not a whole number", JSON.stringify({ subs: { "#a": { offset: -1 } } })],
    ["the bidirectional form (a whole command)", JSON.stringify({ id: 1, connect: { token: "t" } })],
  ])("refused (400): %s", async (_n, text) => {
    expect(status(await readUniHttpStreamConnect(post("/connection/uni_http_stream", text), LIMIT))).toBe(400);
    expect(status(readUniWebSocketConnect(text))).toBe(400);
  });

  test("limits and methods", async () => {
    expect(status(await readUniHttpStreamConnect(post("/connection/uni_http_stream", JSON.stringify({ token: "x".repeat(LIMIT) })), LIMIT))).toBe(413);
    expect(status(await readUniHttpStreamConnect(new Request(new URL("/connection/uni_http_stream", base).href), LIMIT))).toBe(405);
    const long = get("/connection/uni_sse", JSON.stringify({ token: "x".repeat(LIMIT) }));
    expect(status(await readUniSseConnect(long.req, long.url, LIMIT))).toBe(413);
    expect(status(await readUniSseConnect(new Request(new URL("/connection/uni_sse", base).href, { method: "DELETE" }), new URL("/connection/uni_sse", base), LIMIT))).toBe(405);
  });
});

describe("the shared checks", () => {
  test("origin: none allowed (non-browser clients), listed allowed, others 403; any when unset", () => {
    const allowed = { allowedOrigins: new Set(["https://app.example.com"]) };
    expect(originRefusal(new Request(base), allowed)).toBeUndefined();
    expect(originRefusal(new Request(base, { headers: { Origin: "https://app.example.com" } }), allowed)).toBeUndefined();
    expect(originRefusal(new Request(base, { headers: { Origin: "https://evil.example.com" } }), allowed)?.status).toBe(403);
    expect(originRefusal(new Request(base, { headers: { Origin: "https://evil.example.com" } }), { allowedOrigins: undefined })).toBeUndefined();
  });

  test("capacity: 503 when shutting down or full (streams count as sockets)", () => {
    expect(capacityRefusal({ accepting: () => true, connections: () => 9, maxConnections: 10 })).toBeUndefined();
    expect(capacityRefusal({ accepting: () => true, connections: () => 10, maxConnections: 10 })?.status).toBe(503);
    expect(capacityRefusal({ accepting: () => false, connections: () => 0, maxConnections: 10 })?.status).toBe(503);
  });

  test("methods and bodies", async () => {
    expect(methodRefusal(new Request(base, { method: "POST" }), ["POST"])).toBeUndefined();
    expect(methodRefusal(new Request(base), ["POST"])?.status).toBe(405);
    expect(await readBody(post("/", "abc"), 3)).toEqual(new TextEncoder().encode("abc"));
    expect(status(await readBody(post("/", "abcd"), 3))).toBe(413);
  });
});
