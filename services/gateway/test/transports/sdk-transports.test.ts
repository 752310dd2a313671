// The real centrifuge SDK (5.8, JSON and Protobuf builds) over the transport kit's HTTP-streaming
// and SSE, through two toy gateways on a real nats-server (shipped auth.conf): the stream on one,
// its emulation requests on the other. What this proves is the wire: framing, headers, the connect
// result's session and node, the emulation body, the disconnect push, the fallback from a refused
// WebSocket. (The gateway's own session and channels come with the integration.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Centrifuge, State } from "centrifuge";
import { Centrifuge as ProtobufCentrifuge } from "centrifuge/build/protobuf";
import { SdkClient, TestEventSource, TestNats, waitFor } from "@rt/testkit";
import { ToyGateway } from "./harness.ts";

let nats: TestNats;
let a: ToyGateway;
let b: ToyGateway;
beforeAll(async () => {
  nats = await TestNats.start({ jetstream: false });
  a = await ToyGateway.start(nats.url);
  b = await ToyGateway.start(nats.url);
});
afterAll(async () => {
  await a?.[Symbol.asyncDispose]();
  await b?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

type Kind = "http_stream json" | "http_stream protobuf" | "sse";

/** An SDK client whose stream goes to `streamOn` and whose commands go to `emulationOn`'s `/emulation`. */
function client(kind: Kind, streamOn: ToyGateway, emulationOn: ToyGateway, extra: Array<{ transport: string; endpoint: string }> = []): SdkClient {
  const transport = kind === "sse" ? "sse" : "http_stream";
  const transports = [...extra, { transport, endpoint: `${streamOn.http}/connection/${transport}` }];
  const options = { emulationEndpoint: `${emulationOn.http}/emulation`, fetch, readableStream: ReadableStream, eventsource: TestEventSource, websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
  const c = kind === "http_stream protobuf" ? (new ProtobufCentrifuge(transports as never, options as never) as unknown as Centrifuge) : new Centrifuge(transports as never, options as never);
  return new SdkClient(c);
}

const KINDS: Kind[] = ["http_stream json", "http_stream protobuf", "sse"];

/** Application data as the SDK build takes it: a JSON value, or (Protobuf build) its UTF-8 bytes. */
const bytesIfProtobuf = (kind: Kind, value: unknown): unknown => (kind === "http_stream protobuf" ? new TextEncoder().encode(JSON.stringify(value)) : value);

describe.each(KINDS)("centrifuge-js over %s", (kind) => {
  test("connects with session and node; subscribes, publishes, calls RPC through the other gateway's /emulation; gets publications in order", async () => {
    await using c = client(kind, a, b);
    await c.connect();
    const session = a.opened.at(-1)!;
    expect(c.clientId).toBe(session.client);
    expect(session.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.secret).not.toBe(session.client);
    expect(session.transport.info).toEqual({ name: kind === "sse" ? "sse" : "http_stream", encoding: kind === "http_stream protobuf" ? "protobuf" : "json", unidirectional: false, emulation: true });
    const channel = `chat:${kind.replace(/\W/g, "_")}`;
    const sub = await c.subscribe(channel); // a command after connect: POSTed to b, routed to a over NATS
    for (let i = 0; i < 20; i++) a.publish(channel, { n: i });
    await c.waitFor(channel, 20);
    expect(c.data(channel)).toEqual(Array.from({ length: 20 }, (_, i) => ({ n: i })));
    await sub.publish(bytesIfProtobuf(kind, { from: "client" }));
    await c.waitFor(channel, 21);
    expect(c.data(channel)[20]).toEqual({ from: "client" });
    const r = await c.centrifuge.rpc("hello", bytesIfProtobuf(kind, { q: 1 }));
    const answer = r.data instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(r.data)) : r.data;
    expect(answer).toEqual({ echo: { q: 1 }, method: "hello" });
    expect(c.errors).toEqual([]);
  });

  test("a disconnect push ends the stream with its code: 3503 stops the SDK, 3001 makes it reconnect", async () => {
    await using c = client(kind, a, a);
    await c.connect();
    const first = c.clientId;
    await c.centrifuge.rpc("disconnect", bytesIfProtobuf(kind, { code: 3001, reason: "shutdown" }));
    await c.until(() => c.clientId !== first && c.centrifuge.state === State.Connected, "reconnected with a new connection");
    await c.centrifuge.rpc("disconnect", bytesIfProtobuf(kind, { code: 3503, reason: "force disconnect" }));
    await c.until(() => c.disconnects.some((d) => d.code === 3503), "disconnected with 3503");
    expect(c.centrifuge.state).toBe(State.Disconnected);
    expect(c.disconnects.at(-1)).toEqual({ code: 3503, reason: "force disconnect" });
  });

  test("a session gone from its gateway: /emulation answers 404, the SDK drops the stream and reconnects", async () => {
    await using c = client(kind, a, b);
    await c.connect();
    const first = a.opened.at(-1)!;
    a.sessions.revoke(first.secret); // as if the gateway had lost it (restarted)
    void c.centrifuge.rpc("after", {}).catch(() => undefined);
    await c.until(() => c.clientId !== first.client && c.centrifuge.state === State.Connected, "reconnected");
    await waitFor("the old stream closed", () => first.transport.closed);
  });
});

test("a refused WebSocket falls back to the next transport in the list (the SDK's transport list works)", async () => {
  await using c = client("http_stream json", a, b, [{ transport: "websocket", endpoint: `${a.ws}/connection/websocket` }]);
  await c.connect();
  expect(a.opened.at(-1)!.transport.info.name).toBe("http_stream");
  await c.subscribe("chat:fallback");
  a.publish("chat:fallback", { ok: true });
  await c.waitFor("chat:fallback", 1);
});

describe("the unidirectional transports, read without an SDK", () => {
  test("uni_http_stream: POST a bare connect request, read newline-delimited pushes in their own form", async () => {
    const res = await fetch(`${a.http}/connection/uni_http_stream`, { method: "POST", body: JSON.stringify({ token: "", subs: { "chat:uni": {} } }) });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    const read = async (lines: number) => {
      while (text.split("\n").length <= lines) text += new TextDecoder().decode((await reader.read()).value);
    };
    await read(1);
    expect(JSON.parse(text.split("\n")[0]!)).toMatchObject({ connect: { client: a.opened.at(-1)!.client, subs: { "chat:uni": {} } } });
    a.publish("chat:uni", { hello: 1 });
    await read(2);
    expect(JSON.parse(text.split("\n")[1]!)).toEqual({ channel: "chat:uni", pub: { data: { hello: 1 } } });
    await reader.cancel();
  });

  test("uni_sse: an EventSource on ?cf_connect=, each event one push", async () => {
    const es = new TestEventSource(`${a.http}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ subs: { "chat:unisse": {} } }))}`);
    try {
      await waitFor("connect push", () => es.received.length >= 1);
      expect(JSON.parse(es.received[0]!)).toHaveProperty("connect.client");
      a.publish("chat:unisse", { n: 1 });
      a.publish("chat:unisse", { n: 2 });
      await waitFor("two pushes", () => es.received.length >= 3);
      expect(es.received.slice(1).map((d) => JSON.parse(d))).toEqual([{ channel: "chat:unisse", pub: { data: { n: 1 } } }, { channel: "chat:unisse", pub: { data: { n: 2 } } }]);
    } finally {
      es.close();
    }
  });

  test("uni_websocket: the connect request as the first message, pushes in their own form", async () => {
    const ws = new WebSocket(`${a.ws}/connection/uni_websocket`);
    const got: string[] = [];
    ws.onmessage = (e) => got.push(String(e.data));
    await new Promise((resolve) => (ws.onopen = resolve));
    ws.send(JSON.stringify({ subs: { "chat:uniws": {} } }));
    await waitFor("connect push", () => got.length >= 1);
    expect(JSON.parse(got[0]!)).toHaveProperty("connect.client");
    a.publish("chat:uniws", { n: 1 });
    await waitFor("a push", () => got.length >= 2);
    expect(JSON.parse(got[1]!)).toEqual({ channel: "chat:uniws", pub: { data: { n: 1 } } });
    ws.close();
  });

  test("bad connects are refused before anything streams: 400/405/413 with a JSON error", async () => {
    const cases: Array<[Promise<Response>, number]> = [
      [fetch(`${a.http}/connection/uni_http_stream`, { method: "POST", body: "{nope" }), 400],
      [fetch(`${a.http}/connection/uni_http_stream`, { method: "POST", body: JSON.stringify({ token: 5 }) }), 400],
      [fetch(`${a.http}/connection/uni_http_stream`), 405],
      [fetch(`${a.http}/connection/uni_sse?cf_connect=${encodeURIComponent("[1]")}`), 400],
      [fetch(`${a.http}/connection/http_stream`, { method: "POST", body: JSON.stringify({ id: 1, subscribe: { channel: "x" } }) }), 400],
      [fetch(`${a.http}/connection/http_stream`, { method: "POST", body: JSON.stringify({ connect: {} }) }), 400],
      [fetch(`${a.http}/connection/http_stream`, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: new Uint8Array([0xff, 0xff]) }), 400],
      [fetch(`${a.http}/connection/sse`), 400],
      [fetch(`${a.http}/connection/http_stream`, { method: "POST", body: "x".repeat(70_000) }), 413],
    ];
    for (const [p, status] of cases) {
      const res = await p;
      expect({ status: res.status, body: typeof ((await res.json()) as { error?: unknown }).error }).toEqual({ status, body: "string" });
    }
    // A URL over Bun's own limit (about 16 KiB of request line and headers): 431 from Bun, before the gateway sees it.
    expect((await fetch(`${a.http}/connection/sse?cf_connect=${"x".repeat(20_000)}`)).status).toBe(431);
  });
});
