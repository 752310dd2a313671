import type { HTMLBundle, Server } from "bun";
import { EPOCH_PATTERN } from "@rt/protocol";
import { LogLimiter, healthRoute, json, type Logger } from "@rt/runtime";
import type { Authenticator } from "./auth.ts";
import type { InboxStart } from "./channels/inbox.ts";
import type { GatewayConfig } from "./config.ts";
import { isWebSocketHandshake } from "./handshake.ts";
import type { Adapters, ProtocolAdapter } from "./protocols/adapter.ts";
import type { EncodingName } from "./protocols/centrifugo/push.ts";
import type { GatewayCounters } from "./metrics.ts";
import type { Rejections } from "./rejections.ts";
import { route } from "./routes.ts";
import { newBucket } from "./sessions/rate-limit.ts";
import type { ClientSession, GatewaySocket, SocketData } from "./protocols/socket-data.ts";
import { clientIdOf, userOf, type SocketIndex } from "./sessions/socket-index.ts";
import type { Sweeper } from "./sessions/sweeper.ts";
import type { StreamEndpoints } from "./transports/endpoints.ts";
import type { TransportName } from "./transports/transport.ts";

/** What the HTTP/WebSocket server needs from the rest of the gateway. */
export interface ServerDeps {
  config: GatewayConfig;
  auth: Authenticator;
  adapters: Adapters;
  /** A new client protocol session (for `/connection/websocket`), JSON or Protobuf, of a client at `address` whose upgrade request had `headers`. */
  newClient: (encoding: EncodingName, address: string, headers: Headers, transport?: TransportName) => ClientSession;
  sweeper: Sweeper;
  /** `/connection/http_stream`, `/connection/sse` and their `uni_` forms. */
  streams: StreamEndpoints;
  /** `/emulation`: the commands of HTTP-streaming and SSE sessions, here or on another gateway. */
  emulation: { handle(req: Request): Promise<Response> };
  /** Connections open now, every transport together (MAX_CONNECTIONS counts them all). */
  connections: () => number;
  /** Sockets by user and client id (protocol clients add themselves at connect). */
  sockets: SocketIndex;
  rejections: Rejections;
  /** Counts sockets and their close codes. */
  counters: GatewayCounters;
  /** Answers `/metrics`. */
  metrics: () => Promise<Response>;
  /** True when ready to serve; otherwise why not (for `/readyz`). */
  ready: () => true | string;
  /** False once shutdown began: new upgrades are refused with 503. */
  accepting: () => boolean;
  /** With DEMO_PAGE=1: the page served at `/` and its development-only endpoints (`/demo/*`). */
  demo?: { page: HTMLBundle; route: (req: Request, url: URL) => Promise<Response | undefined> };
  log: Logger;
}

const SINCE = /^\d{1,16}$/;
/** The subprotocol the Protobuf SDKs ask for (answered, or browsers abort the socket). */
const PROTOBUF_SUBPROTOCOL = "centrifuge-protobuf";

/** True when the upgrade asks for the client protocol's Protobuf encoding. */
const asksProtobuf = (req: Request): boolean => (req.headers.get("sec-websocket-protocol") ?? "").split(",").some((p) => p.trim() === PROTOBUF_SUBPROTOCOL);

/** The address of the peer that sent `req` (a proxy's, behind one; "" when Bun cannot tell). */
const peerAddress = (server: Server<SocketData>, req: Request): string => server.requestIP(req)?.address ?? "";

/** The adapter of a socket's protocol. */
export function adapterOf(adapters: Adapters, ws: GatewaySocket): ProtocolAdapter<SocketData> {
  return adapters[ws.data.protocol] as ProtocolAdapter<SocketData>;
}

/** Starts Bun.serve: the route table (WebSocket endpoints, health, readiness, metrics) and the dispatch of socket events to protocol adapters. */
export function startServer(d: ServerDeps): Server<SocketData> {
  const { config, log } = d;
  // Failures of our own code that a client may cause at will: never one line per frame.
  const unexpected = new LogLimiter();
  const reject = (status: number, reason: string, message: string): Response => {
    d.rejections.count(reason, log);
    return json(status, { error: message });
  };

  /** Upgrade checks in the documented order (docs/websocket.md): 404, 403, 400 room/since/epoch, 401, 503, 400 no upgrade. */
  async function fetch(req: Request, server: Server<SocketData>): Promise<Response | undefined> {
    const url = new URL(req.url);
    const health = healthRoute(url.pathname, d.ready);
    if (health) return health;
    const demo = await d.demo?.route(req, url);
    if (demo) return demo;
    const r = route(url.pathname);
    switch (r.kind) {
      case "metrics":
        return d.metrics();
      case "notFound":
        return json(404, { error: "not found" });
      case "stream":
        return d.streams.handle(r.endpoint, req, url, server);
      case "emulation":
        return d.emulation.handle(req);
    }
    const origin = req.headers.get("origin");
    if (origin !== null && config.allowedOrigins && !config.allowedOrigins.has(origin)) return reject(403, "origin", "origin not allowed");
    if (r.kind === "badRoom") return reject(400, "room_id", "room id must be 1 to 64 characters of A-Z a-z 0-9 _ -");

    // No frame bucket on the client protocol (it rate-limits each command itself): none is made for it.
    const common = { bucket: r.kind === "centrifugo" ? undefined : newBucket(config.rateLimitPerSec, config.rateLimitBurst), expiresAt: undefined };
    let data: SocketData;
    let headers: Record<string, string> | undefined;
    switch (r.kind) {
      case "notifications": {
        const sinceText = url.searchParams.get("since");
        if (sinceText !== null && !SINCE.test(sinceText)) return reject(400, "since", "since must be a whole number");
        const epoch = url.searchParams.get("epoch");
        if (epoch !== null && !EPOCH_PATTERN.test(epoch)) return reject(400, "epoch", "epoch must be 1 to 32 characters of A-Z a-z 0-9 _ -");
        const principal = await d.auth.authenticate(req, url);
        if (!principal) return reject(401, "token", "missing, invalid or expired token");
        const start: InboxStart = sinceText === null ? { kind: "live" } : { kind: "since", since: Number(sinceText), epoch: epoch ?? undefined };
        data = { ...common, protocol: "notifications", userId: principal.userId, expiresAt: principal.expiresAt, start, inbox: undefined };
        break;
      }
      case "room":
        data = { ...common, protocol: "room", room: r.room, info: { user: "", client: crypto.randomUUID() }, creator: { address: peerAddress(server, req) } };
        break;
      case "monitor":
        data = { ...common, protocol: "monitor", stalled: false };
        break;
      case "centrifugo": {
        const protobuf = asksProtobuf(req);
        if (protobuf) headers = { "Sec-WebSocket-Protocol": PROTOBUF_SUBPROTOCOL };
        // No frame bucket: the client rate-limits each command (111 each, 3013 after a run of them).
        data = { ...common, bucket: undefined, protocol: "centrifugo", unidirectional: false, client: d.newClient(protobuf ? "protobuf" : "json", peerAddress(server, req), req.headers) };
        break;
      }
      case "uniWebsocket":
        // Push-only, JSON: its one message is the connect request (a frame bucket for what it sends after).
        data = { ...common, protocol: "centrifugo", unidirectional: true, client: d.newClient("json", peerAddress(server, req), req.headers, "uni_websocket") };
        break;
      default:
        data = { ...common, protocol: "echo" };
    }
    if (!d.accepting() || d.connections() >= config.maxConnections) return reject(503, "capacity", "gateway is full or shutting down");
    if (isWebSocketHandshake(req) && server.upgrade(req, headers ? { data, headers } : { data })) return undefined;
    return reject(400, "no_upgrade", "expected a WebSocket upgrade");
  }

  const adapter = (ws: GatewaySocket) => adapterOf(d.adapters, ws);
  return Bun.serve<SocketData>({
    port: config.port,
    hostname: config.host,
    reusePort: config.reusePort,
    // The page's HTML and its bundled script and CSS, built by Bun at start (HTML imports).
    ...(d.demo ? { routes: { "/": d.demo.page }, development: false } : {}),
    fetch(req, server) {
      return fetch(req, server).catch((err: unknown) => {
        unexpected.error(log, { err }, "request failed");
        return json(500, { error: "internal error" });
      });
    },
    error(err) {
      unexpected.error(log, { err }, "server error");
      return json(500, { error: "internal error" });
    },
    websocket: {
      data: {} as SocketData,
      maxPayloadLength: config.maxMessageBytes,
      // Bun's own limit is a backstop above ours: the adapters close slow sockets first (see sweeper.ts); past this Bun cuts the socket rather than drop silently.
      backpressureLimit: 2 * config.backpressureLimitBytes + 4 * config.maxMessageBytes,
      closeOnBackpressureLimit: true,
      idleTimeout: config.idleTimeoutSec,
      sendPings: true,
      perMessageDeflate: false,
      publishToSelf: false,
      open(ws) {
        d.counters.opened(ws.data.protocol);
        d.sweeper.add(ws);
        // A client protocol session indexes itself once connected.
        if (ws.data.protocol !== "centrifugo") d.sockets.add(ws, userOf(ws), clientIdOf(ws));
        try {
          adapter(ws).open(ws);
        } catch (err) {
          unexpected.error(log, { err }, "open failed");
          adapter(ws).internalError(ws);
        }
      },
      message(ws, message) {
        const a = adapter(ws);
        if (ws.data.bucket && !ws.data.bucket.take()) {
          d.rejections.count("rate_limit", log);
          a.overRate(ws);
          return;
        }
        try {
          a.message(ws, message);
        } catch (err) {
          unexpected.error(log, { err }, "message failed");
          a.internalError(ws);
        }
      },
      drain(ws) {
        adapter(ws).drain(ws);
      },
      close(ws, code) {
        d.counters.closed(ws.data.protocol, code);
        d.sweeper.delete(ws);
        if (ws.data.protocol !== "centrifugo") d.sockets.delete(ws, userOf(ws), clientIdOf(ws));
        adapter(ws).close(ws);
      },
    },
  });
}
