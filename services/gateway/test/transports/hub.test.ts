// The Hub: one publish reaches Bun's WebSocket topics, the unidirectional WebSockets (in their
// form) and every HTTP stream, each frame encoded once per wire format; real Bun servers and sockets.
import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { TestSocket, waitFor } from "@rt/testkit";
import { jsonPushes } from "../../src/protocols/centrifugo/push.ts";
import { protobufPushes } from "../../src/protocols/centrifugo/codec-protobuf.ts";
import { wireBytes, type WireFormat } from "../../src/transports/framing.ts";
import { Hub, uniTopic, type StreamSink, type TopicPublisher } from "../../src/transports/hub.ts";
import { openHttpStream } from "../../src/transports/http-stream.ts";
import type { StreamTransport } from "../../src/transports/stream-transport.ts";
import { WebSocketTransport } from "../../src/transports/websocket.ts";

/** A sink that records what it was given (the very objects). */
class Recorder implements StreamSink {
  readonly got: Uint8Array[] = [];
  constructor(readonly format: WireFormat) {}
  writeWire(bytes: Uint8Array): boolean {
    this.got.push(bytes);
    return true;
  }
}

/** Bun's publish, recorded. */
class FakeBun implements TopicPublisher {
  readonly published: Array<[string, string | Uint8Array]> = [];
  publish(topic: string, data: string | Uint8Array): number {
    this.published.push([topic, data]);
    return typeof data === "string" ? data.length : data.byteLength;
  }
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const frame = jsonPushes.frame("chat:lobby", { pub: { data: { text: "hi" }, offset: 7 } }) as string;

describe("Hub.publish", () => {
  test("each format's bytes are made once and the same bytes go to every sink of that format", () => {
    const bun = new FakeBun();
    const hub = new Hub(() => bun);
    const sinks = (["ndjson", "sse", "uni-ndjson", "uni-sse", "protobuf"] as const).flatMap((f) => [new Recorder(f), new Recorder(f), new Recorder(f)]);
    for (const s of sinks) hub.subscribe(s, "c:chat:lobby");
    expect(hub.publish("c:chat:lobby", frame)).toBe(frame.length);
    expect(bun.published).toEqual([["c:chat:lobby", frame]]); // the bidirectional WebSockets, as before
    for (const format of ["ndjson", "sse", "uni-ndjson", "uni-sse"] as const) {
      const of = sinks.filter((s) => s.format === format);
      expect(of.every((s) => s.got.length === 1 && s.got[0] === of[0]!.got[0])).toBe(true); // one object, shared
    }
    const got = (f: WireFormat) => text(sinks.find((s) => s.format === f)!.got[0]!);
    expect(got("ndjson")).toBe(`${frame}\n`);
    expect(got("sse")).toBe(`data: ${frame}\n\n`);
    const uni = JSON.stringify({ channel: "chat:lobby", pub: { data: { text: "hi" }, offset: 7 } });
    expect(got("uni-ndjson")).toBe(`${uni}\n`);
    expect(got("uni-sse")).toBe(`data: ${uni}\n\n`);
    // A JSON topic's frame is not for a Protobuf stream, and the other way round.
    expect(sinks.filter((s) => s.format === "protobuf").every((s) => s.got.length === 0)).toBe(true);
    const pb = protobufPushes.frame("chat:lobby", { pub: { data: { text: "hi" } } }) as Uint8Array;
    hub.publish("c:chat:lobby", pb);
    const pbSinks = sinks.filter((s) => s.format === "protobuf");
    expect(pbSinks.every((s) => s.got.length === 1 && s.got[0] === pb)).toBe(true);
    expect(sinks.filter((s) => s.format !== "protobuf").every((s) => s.got.length === 1)).toBe(true);
  });

  test("subscribe and unsubscribe per sink and topic; a topic without sinks is forgotten", () => {
    const hub = new Hub(() => undefined);
    const a = new Recorder("ndjson");
    const b = new Recorder("ndjson");
    hub.subscribe(a, "t1");
    hub.subscribe(b, "t1");
    hub.subscribe(a, "t2");
    expect([hub.sinkCount("t1"), hub.sinkCount("t2"), hub.topics]).toEqual([2, 1, 2]);
    hub.publish("t2", "{}");
    expect([a.got.length, b.got.length]).toEqual([1, 0]);
    hub.unsubscribe(a, "t1");
    hub.unsubscribe(a, "t2");
    hub.publish("t1", "{}");
    expect([a.got.length, b.got.length]).toEqual([1, 1]);
    expect(hub.topics).toBe(1);
    hub.unsubscribe(b, "t1");
    expect(hub.topics).toBe(0);
  });

  test("the unidirectional WebSockets' topic is published (in their form) only while one holds it; the count is summed", () => {
    const bun = new FakeBun();
    const hub = new Hub(() => bun);
    hub.publish("c:x", frame);
    hub.holdUniSocket("c:x");
    hub.holdUniSocket("c:x");
    const n = hub.publish("c:x", frame);
    const uni = JSON.stringify({ channel: "chat:lobby", pub: { data: { text: "hi" }, offset: 7 } });
    expect(bun.published).toEqual([["c:x", frame], ["c:x", frame], [uniTopic("c:x"), uni]]);
    expect(n).toBe(frame.length + uni.length);
    hub.releaseUniSocket("c:x");
    hub.publish("c:x", frame);
    expect(bun.published.length).toBe(5);
    hub.releaseUniSocket("c:x");
    hub.publish("c:x", frame);
    expect(bun.published.length).toBe(6);
    expect(hub.topics).toBe(0);
  });
});

const servers: Server<unknown>[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

describe("every transport from one publish, on real sockets", () => {
  test("a WebSocket, a unidirectional WebSocket and two HTTP streams get the same publication, each in its form", async () => {
    let hub!: Hub;
    const wsTransports: WebSocketTransport[] = [];
    const bySocket = new Map<unknown, WebSocketTransport>();
    const streams: StreamTransport[] = [];
    const server: Server<{ uni: boolean }> = Bun.serve<{ uni: boolean }>({
      port: 0,
      fetch(req, srv) {
        const url = new URL(req.url);
        if (url.pathname === "/stream") {
          const o = openHttpStream({ limitBytes: 1 << 20, hub, server: srv, req, encoding: "json", unidirectional: url.searchParams.has("uni") });
          o.transport.subscribe("c:chat:lobby");
          o.transport.write(url.searchParams.has("uni") ? '{"connect":{"client":"s"}}' : '{"id":1,"connect":{"client":"s"}}');
          streams.push(o.transport);
          return o.response;
        }
        return srv.upgrade(req, { data: { uni: url.pathname === "/uni" } }) ? undefined : new Response("no", { status: 400 });
      },
      websocket: {
        open(ws) {
          const t = new WebSocketTransport(ws, "json", ws.data.uni, hub);
          t.subscribe("c:chat:lobby");
          wsTransports.push(t);
          bySocket.set(ws, t);
        },
        message() {},
        close(ws) {
          bySocket.get(ws)?.socketClosed();
        },
      },
    });
    servers.push(server as Server<unknown>);
    hub = new Hub(() => server);
    const base = `127.0.0.1:${server.port}`;
    await using bidi = await TestSocket.open(`ws://${base}/bidi`);
    await using uni = await TestSocket.open(`ws://${base}/uni`);
    const streamRes = fetch(`http://${base}/stream`);
    const uniRes = fetch(`http://${base}/stream?uni`);
    await waitFor("all subscribed", () => wsTransports.length === 2 && streams.length === 2);
    const readLines = async (res: Promise<Response>, n: number) => {
      const r = (await res).body!.getReader();
      let acc = "";
      while (acc.split("\n").length <= n) acc += text((await r.read()).value!);
      await r.cancel();
      return acc.split("\n").slice(0, n);
    };
    const a = readLines(streamRes, 2);
    const b = readLines(uniRes, 2);
    hub.publish("c:chat:lobby", frame);
    const uniForm = JSON.stringify({ channel: "chat:lobby", pub: { data: { text: "hi" }, offset: 7 } });
    await bidi.waitForMessages(1);
    await uni.waitForMessages(1);
    expect(bidi.messages).toEqual([frame]);
    expect(uni.messages).toEqual([uniForm]);
    expect(await a).toEqual(['{"id":1,"connect":{"client":"s"}}', frame]);
    expect(await b).toEqual(['{"connect":{"client":"s"}}', uniForm]);
    expect(hub.uniSocketCount("c:chat:lobby")).toBe(1);
    // The unidirectional socket's own writes are unwrapped too.
    wsTransports[1]!.write(jsonPushes.frame("#u", { pub: { data: 1 } }));
    await uni.waitForMessages(2);
    expect(JSON.parse(uni.messages[1] as string)).toEqual({ channel: "#u", pub: { data: 1 } });
    // Closing: the hub lets go of the unidirectional socket's topic.
    uni.close();
    await waitFor("uni socket released", () => hub.uniSocketCount("c:chat:lobby") === 0);
  });
});

test("hub.publish costs little over Bun's publish on a topic with no stream (the WebSocket fan-out path)", () => {
  const bun: TopicPublisher = { publish: () => 0 };
  const hub = new Hub(() => bun);
  const n = 1_000_000;
  const direct = () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) bun.publish("c:chat:lobby", frame);
    return performance.now() - t0;
  };
  const viaHub = () => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) hub.publish("c:chat:lobby", frame);
    return performance.now() - t0;
  };
  direct();
  viaHub();
  const d = Math.min(direct(), direct());
  const h = Math.min(viaHub(), viaHub());
  console.log(`hub.publish overhead: ${(((h - d) * 1e6) / n).toFixed(1)} ns per publish (${n} publishes, no stream sink)`);
  // Two map lookups: far under a microsecond, whatever the machine's load.
  expect((h - d) / n).toBeLessThan(0.001);
  expect(wireBytes("ndjson", "{}").byteLength).toBe(3);
});
