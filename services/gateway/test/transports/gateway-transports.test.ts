// The real gateway (two processes, a notifier, a real nats-server) on every transport of the client
// protocol: the official `centrifuge` SDK falling back from a refused WebSocket to HTTP-streaming
// (JSON and Protobuf) and SSE, its commands POSTed to the other gateway's /emulation; the
// unidirectional transports fed by the user's inbox and the token's channels, with recovery; and
// emulation honoured only for its own session.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Centrifuge, State } from "centrifuge";
import { Centrifuge as ProtobufCentrifuge } from "centrifuge/build/protobuf";
import { SdkClient, TestEventSource, TestSystem, jsonBytes, signToken, waitFor } from "@rt/testkit";

let sys: TestSystem;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 2, notifier: true, gatewayEnv: { PING_INTERVAL_SEC: "2" } });
});
afterAll(async () => {
  await sys?.[Symbol.asyncDispose]();
});

type Kind = "http_stream json" | "http_stream protobuf" | "sse";
const KINDS: Kind[] = ["http_stream json", "http_stream protobuf", "sse"];

/**
 * An SDK client with the transport list `[websocket, http_stream, sse]` whose WebSocket is refused
 * (its endpoint answers the upgrade with 405, as a proxy that blocks WebSockets would refuse it),
 * so it falls back: to `kind`'s transport on gateway `streamOn`, its commands to `emulationOn`.
 */
async function client(kind: Kind, user: string, streamOn = 0, emulationOn = 1, opts: { expiresIn?: string | number; getToken?: () => Promise<string> } = {}): Promise<SdkClient> {
  const token = await signToken(user, { expiresIn: opts.expiresIn ?? "1h" });
  const g = sys.gw(streamOn);
  const transports = [
    { transport: "websocket", endpoint: `${g.ws}/connection/http_stream` },
    ...(kind === "sse" ? [] : [{ transport: "http_stream", endpoint: `${g.http}/connection/http_stream` }]),
    { transport: "sse", endpoint: `${g.http}/connection/sse` },
  ];
  const options = { token, ...(opts.getToken ? { getToken: opts.getToken } : {}), emulationEndpoint: `${sys.gw(emulationOn).http}/emulation`, fetch, readableStream: ReadableStream, eventsource: TestEventSource, websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 5000 };
  const c = kind === "http_stream protobuf" ? (new ProtobufCentrifuge(transports as never, options as never) as unknown as Centrifuge) : new Centrifuge(transports as never, options as never);
  return new SdkClient(c);
}

/** Application data as the SDK build takes it. */
const dataFor = (kind: Kind, value: unknown): unknown => (kind === "http_stream protobuf" ? jsonBytes(value) : value);
/** Application data as the SDK build hands it back. */
const valueOf = (data: unknown): unknown => (data instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(data)) : data);

async function notify(user_id: string, body: string): Promise<{ seq: number; epoch: string }> {
  const r = await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id, body }) });
  expect(r.status).toBe(202);
  return (await r.json()) as { seq: number; epoch: string };
}

describe.each(KINDS)("the centrifuge SDK over %s, its WebSocket refused", (kind) => {
  const tag = kind.replace(/\W/g, "_");

  test("falls back; chats with a WebSocket client on the other gateway: publish, history, presence, joins; its inbox gets notifications", async () => {
    const user = `fb-${tag}`;
    await using c = await client(kind, user);
    await c.connect();
    expect(c.centrifuge.state).toBe(State.Connected);
    expect((c.centrifuge as unknown as { _transport: { name(): string } })._transport.name()).toBe(kind === "sse" ? "sse" : "http_stream");
    await c.until(() => c.subscribed.some((s) => s.channel === `#${user}`), "the server-side inbox subscription");

    await using ws = SdkClient.create(`${sys.gw(1).ws}/connection/websocket`, { token: await signToken(`ws-${tag}`) });
    await ws.connect();
    const room = `chat:fb-${tag}`;
    const wsSub = await ws.subscribe(room);
    const sub = await c.subscribe(room); // through gateway 1's /emulation, routed to gateway 0 over NATS
    for (let i = 0; i < 10; i++) await sub.publish(dataFor(kind, { n: i }));
    // A publish is answered before the stream stored it: the other publisher waits to see the last one, so the order is known.
    await ws.waitFor(room, 10);
    await wsSub.publish({ from: "ws" });
    await c.waitFor(room, 11);
    await ws.waitFor(room, 11);
    const expected = [...Array.from({ length: 10 }, (_, i) => ({ n: i })), { from: "ws" }];
    expect(c.data(room)).toEqual(expected);
    expect(ws.data(room)).toEqual(expected);

    const history = await sub.history({ limit: 20 });
    expect(history.publications.map((p) => valueOf(p.data))).toEqual(expected);
    const presence = await sub.presence();
    expect(Object.values(presence.clients).map((i) => i.user).sort()).toEqual([user, `ws-${tag}`].sort());

    await notify(user, `hello ${tag}`);
    await c.until(() => c.publications.some((p) => p.channel === `#${user}`), "the notification on the inbox");
    expect(c.errors).toEqual([{ type: "transport", error: { code: 2, message: "transport closed" }, transport: "websocket" }]); // the refused WebSocket, and nothing else
  });

  test("token refresh through /emulation keeps the stream past the first token's expiry; RPC is answered (108: no backend)", async () => {
    let issued = 0;
    const getToken = async () => {
      issued++;
      return signToken(`refresh-${tag}`, { expiresIn: "1h" });
    };
    // The SDK refreshes after the connect result's whole-second `ttl`; an exp 3.5-4.5 s away leaves it at least half a second.
    const exp = Math.ceil((Date.now() + 3500) / 1000);
    await using c = await client(kind, `refresh-${tag}`, 0, 1, { expiresIn: exp, getToken });
    await c.connect();
    const id = c.clientId;
    // The control: a raw stream on the same gateway whose token has the same exp, not refreshed.
    const control = await fetch(`${sys.gw(0).http}/connection/http_stream`, { method: "POST", body: JSON.stringify({ id: 1, connect: { token: await signToken(`refresh-control-${tag}`, { expiresIn: exp }) } }) });
    await waitFor("a refresh", () => issued >= 1, 8000, 100);
    expect((await control.text()).trim().split("\n").at(-1)).toBe('{"push":{"disconnect":{"code":3005,"reason":"connection expired"}}}');
    // The sweep that closed the control looked at this connection too: a round trip on it after that.
    expect(await c.centrifuge.rpc("no-such-backend", dataFor(kind, {})).catch((e: { code: number }) => e.code)).toBe(108);
    expect(c.disconnects).toEqual([]);
    expect(c.clientId).toBe(id);
  });

  test("recovers what it missed in a room after its stream drops (a reconnect with recover)", async () => {
    await using c = await client(kind, `rec-${tag}`, 1, 0);
    await c.connect();
    const room = `chat:rec-${tag}`;
    const sub = c.subscription(room, { recoverable: true });
    sub.subscribe();
    await c.until(() => c.subscribed.some((s) => s.channel === room), "subscribed");
    await sub.publish(dataFor(kind, { n: 0 }));
    await c.waitFor(room, 1);
    // It goes away; meanwhile a WebSocket client on the other gateway publishes.
    await using other = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken(`pub-${tag}`) });
    await other.connect();
    const first = c.clientId;
    c.centrifuge.disconnect();
    await c.until(() => c.centrifuge.state === State.Disconnected, "disconnected");
    const otherSub = await other.subscribe(room);
    for (let i = 1; i <= 3; i++) await otherSub.publish({ n: i });
    c.centrifuge.connect();
    await c.until(() => c.clientId !== first && c.centrifuge.state === State.Connected, "connected again");
    await c.waitFor(room, 4);
    expect(c.data(room)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }]);
    expect(c.subscribed.filter((s) => s.channel === room).at(-1)).toMatchObject({ wasRecovering: true, recovered: true });
  });
});

describe("the server API reaches sessions on every transport", () => {
  test("subscribe pushes a server-side subscription to an SSE session and a push-only stream; disconnect ends both with its code", async () => {
    const user = "api-streams";
    await using c = await client("sse", user, 1, 0);
    await c.connect();
    const abort = new AbortController();
    const res = await fetch(`${sys.gw(0).http}/connection/uni_http_stream`, { method: "POST", body: JSON.stringify({ token: await signToken(user) }), signal: abort.signal });
    const lines: string[] = [];
    const ended = (async () => {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        const parts = buf.split("\n");
        buf = parts.pop()!;
        lines.push(...parts);
      }
    })();
    await waitFor("the uni connect push", () => lines.length >= 1);
    const api = (method: string, body: unknown) => fetch(`${sys.notifier!.http}/api/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then((r) => r.json());
    expect(await api("subscribe", { user, channel: "chat:api-streams" })).toEqual({ result: {} });
    await c.until(() => c.subscribed.some((s) => s.channel === "chat:api-streams"), "the subscribe push on SSE");
    await waitFor("the subscribe push on the uni stream", () => lines.some((l) => l.startsWith('{"channel":"chat:api-streams","subscribe":')));
    await using ws = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken("api-streams-pub") });
    await ws.connect();
    await (await ws.subscribe("chat:api-streams")).publish({ via: "api" });
    await c.waitFor("chat:api-streams", 1);
    await waitFor("the publication on the uni stream", () => lines.some((l) => l.includes('"via":"api"')));
    expect(await api("disconnect", { user, disconnect: { code: 4501, reason: "kicked" } })).toEqual({ result: {} });
    await ended;
    expect(lines.at(-1)).toBe('{"disconnect":{"code":4501,"reason":"kicked"}}');
    await c.until(() => c.disconnects.some((d) => d.code === 4501), "the SSE session disconnected");
    abort.abort();
  });
});

describe("emulation is honoured only for its own session", () => {
  /** A raw HTTP-streaming connect (JSON): the connect result, and the stream's reader. */
  async function rawStream(user: string, gw = 0): Promise<{ result: { client: string; session: string; node: string }; lines: string[]; abort: () => void; more: () => Promise<void> }> {
    const token = await signToken(user);
    const abort = new AbortController();
    const res = await fetch(`${sys.gw(gw).http}/connection/http_stream`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: 1, connect: { token } }), signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("application/x-ndjson");
    const reader = res.body!.getReader();
    const lines: string[] = [];
    let buf = "";
    const decoder = new TextDecoder();
    const more = async () => {
      const { value, done } = await reader.read();
      if (done) throw new Error("stream ended");
      buf += decoder.decode(value, { stream: true });
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    };
    while (lines.length === 0) await more();
    const result = (JSON.parse(lines[0]!) as { connect: { client: string; session: string; node: string } }).connect;
    return { result, lines, abort: () => abort.abort(), more };
  }
  const emulate = (gw: number, body: unknown, headers: Record<string, string> = { "content-type": "application/json" }) =>
    fetch(`${sys.gw(gw).http}/emulation`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });

  test("the connect result's session is a secret distinct from the client id; the right secret works from either gateway", async () => {
    const s = await rawStream("emu-owner");
    try {
      expect(s.result.session).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(s.result.session).not.toBe(s.result.client);
      for (const gw of [0, 1]) {
        const r = await emulate(gw, { node: s.result.node, session: s.result.session, data: JSON.stringify({ id: 2 + gw, presence_stats: { channel: "chat:emu" } }) });
        expect(r.status).toBe(204);
        while (!s.lines.some((l) => l.startsWith(`{"id":${2 + gw},`))) await s.more();
      }
    } finally {
      s.abort();
    }
  });

  test("a client id, a guessed secret, another gateway's node or a closed session's secret: 404, nothing delivered", async () => {
    const s = await rawStream("emu-victim");
    const data = JSON.stringify({ id: 9, publish: { channel: "chat:emu-victim", data: { forged: true } } });
    for (const gw of [0, 1]) {
      expect((await emulate(gw, { node: s.result.node, session: s.result.client, data })).status).toBe(404);
      expect((await emulate(gw, { node: s.result.node, session: s.result.client.replaceAll("-", ""), data })).status).toBe(404);
      expect((await emulate(gw, { node: s.result.node, session: "A".repeat(43), data })).status).toBe(404);
      expect((await emulate(gw, { node: "nosuchgateway", session: s.result.session, data })).status).toBe(404);
    }
    // The right secret, after them all: the replies on the stream are the connect's and its own (none of the forged commands ran).
    expect((await emulate(1, { node: s.result.node, session: s.result.session, data: JSON.stringify({ id: 10, presence_stats: { channel: "chat:emu-victim" } }) })).status).toBe(204);
    while (!s.lines.some((l) => l.startsWith('{"id":10,'))) await s.more();
    expect(s.lines.filter((l) => l.startsWith('{"id":')).map((l) => (JSON.parse(l) as { id: number }).id)).toEqual([1, 10]);
    s.abort();
    await waitFor("the secret revoked once its stream closed", async () => (await emulate(0, { node: s.result.node, session: s.result.session, data })).status === 404);
  });

  test("bodies are validated and size-limited: 400, 413, 405", async () => {
    expect((await emulate(1, "not json")).status).toBe(400);
    expect((await emulate(1, { node: "x", session: "short", data: "{}" })).status).toBe(400);
    expect((await emulate(1, { node: "abc", session: "A".repeat(43), data: "x".repeat(200_000) })).status).toBe(413);
    expect((await fetch(`${sys.gw(1).http}/emulation`)).status).toBe(405);
  });
});

describe("unidirectional transports: pushes only, the user's inbox and the token's channels, recovery through subs", () => {
  test("uni_sse with an EventSource and cf_connect: the connect push, then notifications; recovery of missed ones through subs", async () => {
    const user = "uni-sse-user";
    const token = await signToken(user);
    const url = new URL(`${sys.gw(0).http}/connection/uni_sse`);
    url.searchParams.set("cf_connect", JSON.stringify({ token }));
    const es = new TestEventSource(url.toString());
    try {
      await waitFor("the connect push", () => es.received.length >= 1);
      const connect = JSON.parse(es.received[0]!) as { connect: { client: string; pong?: boolean; subs: Record<string, { epoch: string; offset?: number }> } };
      expect(connect.connect.client).toMatch(/^[0-9a-f-]{36}$/);
      expect(connect.connect.pong).toBe(false);
      expect(connect.connect.subs[`#${user}`]).toBeDefined();
      const sent = await notify(user, "first");
      await waitFor("the notification", () => es.received.some((e) => e.includes('"first"')));
      const push = JSON.parse(es.received.find((e) => e.includes('"first"'))!) as { channel: string; pub: { offset: number } };
      expect(push.channel).toBe(`#${user}`);
      expect(push.pub.offset).toBe(sent.seq);
      es.close();
      await notify(user, "missed-1");
      await notify(user, "missed-2");
      const again = new URL(url);
      again.searchParams.set("cf_connect", JSON.stringify({ token, subs: { [`#${user}`]: { recover: true, offset: sent.seq, epoch: sent.epoch } } }));
      const es2 = new TestEventSource(again.toString());
      try {
        await waitFor("the missed notifications", () => es2.received.some((e) => e.includes("missed-2")));
        const c2 = JSON.parse(es2.received[0]!) as { connect: { subs: Record<string, { recovered?: boolean; publications?: unknown[] }> } };
        const recovered = c2.connect.subs[`#${user}`]!;
        expect(recovered.recovered).toBe(true);
        expect(JSON.stringify(recovered.publications ?? es2.received.slice(1))).toContain("missed-1");
      } finally {
        es2.close();
      }
    } finally {
      es.close();
    }
  });

  test("uni_http_stream (POST) and uni_websocket (first message): the token's channels claim and the inbox", async () => {
    const user = "uni-claim-user";
    const token = await signToken(user, { claims: { channels: ["chat:uni-claim"] } });
    const abort = new AbortController();
    const res = await fetch(`${sys.gw(1).http}/connection/uni_http_stream`, { method: "POST", body: JSON.stringify({ token }), signal: abort.signal });
    expect(res.status).toBe(200);
    const lines: string[] = [];
    void (async () => {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        const parts = buf.split("\n");
        buf = parts.pop()!;
        lines.push(...parts);
      }
    })();
    const ws = new WebSocket(`${sys.gw(0).ws}/connection/uni_websocket`);
    const wsMessages: string[] = [];
    ws.onmessage = (e) => wsMessages.push(String(e.data));
    await new Promise((resolve) => (ws.onopen = resolve));
    ws.send(JSON.stringify({ token }));
    try {
      await waitFor("both connect pushes", () => lines.length >= 1 && wsMessages.length >= 1);
      for (const first of [lines[0]!, wsMessages[0]!]) expect(Object.keys((JSON.parse(first) as { connect: { subs: object } }).connect.subs).sort()).toEqual(["#uni-claim-user", "chat:uni-claim"]);
      await using pub = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken("uni-publisher") });
      await pub.connect();
      const s = await pub.subscribe("chat:uni-claim");
      await s.publish({ hello: "uni" });
      await notify(user, "uni-note");
      for (const got of [lines, wsMessages]) {
        await waitFor("the room publication and the notification", () => got.some((l) => l.includes('"hello":"uni"')) && got.some((l) => l.includes("uni-note")));
        const pubLine = JSON.parse(got.find((l) => l.includes('"hello":"uni"'))!) as { channel: string; pub: { data: unknown } };
        expect(pubLine).toMatchObject({ channel: "chat:uni-claim", pub: { data: { hello: "uni" } } });
      }
      // Push-only: what is sent afterwards is ignored, readable or not (no reply, the connection stays).
      ws.send(JSON.stringify({ id: 2, subscribe: { channel: "chat:other" } }));
      ws.send("not even JSON");
      await notify(user, "after-command");
      await waitFor("still open", () => wsMessages.some((m) => m.includes("after-command")));
      expect(wsMessages.some((m) => m.includes('"id":2'))).toBe(false);
    } finally {
      ws.close();
      abort.abort();
    }
  });

  test("a bad connect is refused before anything streams: 400 a command instead of a request, 405 GET on uni_http_stream, 413 over MAX_MESSAGE_BYTES; an invalid token ends with 3500", async () => {
    const g = sys.gw(0).http;
    expect((await fetch(`${g}/connection/uni_http_stream`, { method: "POST", body: JSON.stringify({ id: 1, connect: {} }) })).status).toBe(400);
    expect((await fetch(`${g}/connection/uni_http_stream`)).status).toBe(405);
    expect((await fetch(`${g}/connection/http_stream`, { method: "POST", body: "x".repeat(200_000) })).status).toBe(413);
    const res = await fetch(`${g}/connection/uni_http_stream`, { method: "POST", body: JSON.stringify({ token: "not-a-token" }) });
    expect(res.status).toBe(200);
    expect((await res.text()).trim()).toBe('{"disconnect":{"code":3500,"reason":"invalid token"}}');
  });
});
