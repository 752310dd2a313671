// A miniature gateway made of the transport kit and nothing else, for the real SDK to talk to:
// `/connection/http_stream`, `/connection/sse`, their `uni_` forms, `/connection/uni_websocket`
// and `/emulation`, with a toy session (connect, subscribe, publish, rpc; no auth, no channels
// of the real gateway). It shows the wiring the integrator does with the real session.
import { randomBytes } from "node:crypto";
import type { Server, ServerWebSocket } from "bun";
import { INBOX_PREFIX } from "@rt/protocol";
import { Metrics, ReplyGuard, createLogger } from "@rt/runtime";
import { natsAs } from "@rt/testkit";
import { NatsBroker } from "../../src/broker/nats-broker.ts";
import type { Codec } from "../../src/protocols/centrifugo/codec.ts";
import { JsonCodec } from "../../src/protocols/centrifugo/codec-json.ts";
import { ProtobufCodec, protobufPushes } from "../../src/protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes, type EncodingName } from "../../src/protocols/centrifugo/push.ts";
import { readHttpStreamConnect, readSseConnect, readUniHttpStreamConnect, readUniSseConnect, readUniWebSocketConnect, type UniConnect } from "../../src/transports/connect-request.ts";
import { EmulationRouter, type EmulatedSession } from "../../src/transports/emulation.ts";
import { capacityRefusal, corsHeaders, isRefusal, originRefusal, preflight, refusalResponse, type Refusal } from "../../src/transports/http-checks.ts";
import { openHttpStream } from "../../src/transports/http-stream.ts";
import { Hub } from "../../src/transports/hub.ts";
import { OpenStreams } from "../../src/transports/open-streams.ts";
import { SessionSecrets } from "../../src/transports/session-secrets.ts";
import { openSse } from "../../src/transports/sse.ts";
import type { Transport } from "../../src/transports/transport.ts";
import { WebSocketTransport } from "../../src/transports/websocket.ts";

const MAX_BODY = 64 * 1024;
const LIMIT = 1024 * 1024;
const encodings = { json: jsonPushes, protobuf: protobufPushes };
const codecs: Record<EncodingName, Codec> = { json: new JsonCodec(), protobuf: new ProtobufCodec() };

type Command = Record<string, unknown> & { id?: number };

/** The toy session: a command loop over a Transport, answering as the real one does in shape. */
export class ToySession implements EmulatedSession {
  readonly client = crypto.randomUUID();
  secret = "";
  readonly codec: Codec;
  constructor(
    readonly transport: Transport,
    readonly node: ToyGateway,
  ) {
    this.codec = codecs[transport.info.encoding];
  }

  get encoding(): EncodingName {
    return this.transport.info.encoding;
  }

  /** The first frame (a bidirectional connect) or a later one (WebSocket message, emulation data). */
  onFrame(frame: string | Uint8Array): boolean {
    const commands = this.codec.decode(typeof frame === "string" ? frame : Buffer.from(frame));
    if (!commands) return false;
    const replies: object[] = [];
    for (const c of commands as Command[]) {
      const reply = this.handle(c);
      if (reply) replies.push(reply);
    }
    if (replies.length > 0) this.transport.write(this.codec.encode(replies));
    return true;
  }

  deliver(data: string | Uint8Array): boolean {
    if (this.transport.closed) return false;
    return this.onFrame(data);
  }

  /** A unidirectional connect: the connect push, then the token's channels (here: `subs` as asked). */
  uniConnect(req: UniConnect): void {
    this.transport.write(JSON.stringify({ connect: { client: this.client, version: "toy", ping: 25, subs: Object.fromEntries(Object.keys(req.subs ?? {}).map((ch) => [ch, {}])) } }));
    for (const ch of Object.keys(req.subs ?? {})) this.transport.subscribe(jsonPushes.topic(ch));
  }

  private handle(c: Command): object | undefined {
    const id = c.id;
    if (c.connect) {
      const result: Record<string, unknown> = { client: this.client, version: "toy", ping: 25, pong: false };
      if (this.transport.info.emulation) {
        this.secret = this.node.sessions.issue(this);
        result.session = this.secret;
        result.node = this.node.id;
      }
      return { id, connect: result };
    }
    if (c.subscribe) {
      const channel = (c.subscribe as { channel: string }).channel;
      this.transport.subscribe(encodings[this.encoding].topic(channel));
      return { id, subscribe: {} };
    }
    if (c.unsubscribe) {
      this.transport.unsubscribe(encodings[this.encoding].topic((c.unsubscribe as { channel: string }).channel));
      return { id, unsubscribe: {} };
    }
    if (c.publish) {
      const { channel, data } = c.publish as { channel: string; data: unknown };
      this.node.publish(channel, data, { user: "", client: this.client });
      return { id, publish: {} };
    }
    if (c.rpc) {
      const { method, data } = c.rpc as { method?: string; data?: unknown };
      if (method === "disconnect") queueMicrotask(() => this.transport.close((data as { code: number; reason: string }) ?? { code: 3503, reason: "force disconnect" }));
      return { id, rpc: { data: { echo: data ?? null, method: method ?? "" } } };
    }
    return undefined; // a pong
  }
}

/** One toy gateway: its broker on the test's NATS (as the gateway user), hub, sessions and routes. */
export class ToyGateway implements AsyncDisposable {
  readonly id = randomBytes(9).toString("base64url");
  readonly sessions = new SessionSecrets<ToySession>();
  readonly streams = new OpenStreams();
  readonly opened: ToySession[] = [];
  /** Refuse WebSocket upgrades on /connection/websocket (a proxy that blocks them). */
  refuseWebSocket = true;
  private server: Server<{ session?: ToySession }> | undefined;
  readonly hub = new Hub(() => this.server);
  private router: EmulationRouter | undefined;
  private readonly broker = new NatsBroker(createLogger("test", "silent"), INBOX_PREFIX.gateway);
  private readonly admission = { allowedOrigins: undefined, accepting: () => true, connections: () => this.streams.size, maxConnections: 1000 };

  static async start(natsUrl: string): Promise<ToyGateway> {
    const g = new ToyGateway();
    await g.broker.connect({ ...natsAs("gateway"), servers: [natsUrl], name: `toy-${g.id}`, noEcho: true });
    const log = createLogger("test", "silent");
    g.router = new EmulationRouter({ gatewayId: g.id, broker: g.broker, sessions: g.sessions, replies: new ReplyGuard(new Metrics(), log, ["gateway.emulation"]), log, admission: g.admission, maxBodyBytes: MAX_BODY });
    g.router.start();
    await g.broker.flush();
    g.server = Bun.serve<{ session?: ToySession }>({
      port: 0,
      fetch: (req, server) => g.fetch(req, server),
      websocket: {
        data: {} as { session?: ToySession },
        message: (ws, message) => g.onUniMessage(ws, message),
        close: (ws) => (ws.data.session?.transport as WebSocketTransport | undefined)?.socketClosed(),
      },
    });
    return g;
  }

  get http(): string {
    return `http://127.0.0.1:${this.server!.port}`;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.server!.port}`;
  }

  /** A publication on `channel` to every local subscriber, in every encoding, serialized once each. */
  publish(channel: string, data: unknown, info?: { user: string; client: string }): void {
    for (const enc of [jsonPushes, protobufPushes]) this.hub.publish(enc.topic(channel), enc.frame(channel, { pub: info ? { data, info } : { data } }));
  }

  private async fetch(req: Request, server: Server<{ session?: ToySession }>): Promise<Response | undefined> {
    const url = new URL(req.url);
    if (url.pathname === "/emulation") return this.router!.handle(req);
    const path = url.pathname;
    const known = ["/connection/http_stream", "/connection/sse", "/connection/uni_http_stream", "/connection/uni_sse", "/connection/uni_websocket", "/connection/websocket"];
    if (!known.includes(path)) return Response.json({ error: "not found" }, { status: 404 });
    if (req.method === "OPTIONS") return preflight(req, this.admission, ["GET", "POST"]);
    const refused: Refusal | undefined = originRefusal(req, this.admission) ?? capacityRefusal(this.admission);
    if (refused) return refusalResponse(refused);
    const cors = corsHeaders(req, this.admission);
    const open = { limitBytes: LIMIT, hub: this.hub, server, req, headers: cors };
    switch (path) {
      case "/connection/websocket":
        return Response.json({ error: "expected a WebSocket upgrade" }, { status: 400 }); // refused, as behind a proxy that blocks WebSockets
      case "/connection/uni_websocket":
        return server.upgrade(req, { data: {} }) ? undefined : Response.json({ error: "expected a WebSocket upgrade" }, { status: 400 });
      case "/connection/http_stream":
      case "/connection/sse": {
        const connect = path === "/connection/sse" ? await readSseConnect(req, url, MAX_BODY) : await readHttpStreamConnect(req, MAX_BODY);
        if (isRefusal(connect)) return refusalResponse(connect, cors);
        const { transport, response } = path === "/connection/sse" ? openSse({ ...open, unidirectional: false }) : openHttpStream({ ...open, encoding: connect.encoding, unidirectional: false });
        const session = new ToySession(transport, this);
        this.opened.push(session);
        this.streams.add(transport);
        transport.onClose(() => this.sessions.revoke(session.secret));
        session.onFrame(connect.frame);
        return response;
      }
      default: {
        const uniSse = path === "/connection/uni_sse";
        const connect = uniSse ? await readUniSseConnect(req, url, MAX_BODY) : await readUniHttpStreamConnect(req, MAX_BODY);
        if (isRefusal(connect)) return refusalResponse(connect, cors);
        const { transport, response } = uniSse ? openSse({ ...open, unidirectional: true }) : openHttpStream({ ...open, encoding: "json", unidirectional: true });
        const session = new ToySession(transport, this);
        this.opened.push(session);
        this.streams.add(transport);
        session.uniConnect(connect);
        return response;
      }
    }
  }

  /** `/connection/uni_websocket`: the first message is the connect request; later ones are ignored. */
  private onUniMessage(ws: ServerWebSocket<{ session?: ToySession }>, message: string | Buffer): void {
    if (ws.data.session) return;
    const connect = readUniWebSocketConnect(message);
    if (isRefusal(connect)) return ws.close(3501, "bad request");
    const session = new ToySession(new WebSocketTransport(ws, "json", true, this.hub), this);
    ws.data.session = session;
    this.opened.push(session);
    session.uniConnect(connect);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.router?.stop();
    this.server?.stop(true);
    await this.broker.close();
  }
}
