import type { Server } from "bun";
import type { EncodingName } from "../protocols/centrifugo/push.ts";
import { readHttpStreamConnect, readSseConnect, readUniHttpStreamConnect, readUniSseConnect } from "./connect-request.ts";
import { capacityRefusal, corsHeaders, isRefusal, methodRefusal, originRefusal, preflight, refusalResponse, type Admission, type Refusal } from "./http-checks.ts";
import { openHttpStream } from "./http-stream.ts";
import type { Hub } from "./hub.ts";
import type { OpenStreams } from "./open-streams.ts";
import { openSse } from "./sse.ts";
import type { StreamTransport } from "./stream-transport.ts";
import type { Transport } from "./transport.ts";

/** The client protocol's endpoints on an HTTP response. */
export type StreamEndpoint = "http_stream" | "sse" | "uni_http_stream" | "uni_sse";

/** What a stream endpoint does with a client protocol session (protocols/centrifugo/session.ts fits). */
export interface StreamSession {
  attach(transport: Transport): void;
  /** The bidirectional connect frame, then each emulation request's commands. */
  onFrame(message: string | Buffer): void;
  /** A unidirectional connect request. */
  connectUni(request: object): void;
  /** The sweep's look (token expiry, pings, pong deadline). */
  sweep(now: number): void;
  /** Drained: its output shrank. */
  drain(): void;
  /** The connection closed, whoever closed it. */
  closed(): void;
}

/** What the stream endpoints need. */
export interface StreamEndpointsDeps {
  hub: Hub;
  streams: OpenStreams;
  /** ALLOWED_ORIGINS, accepting, connections (WebSockets and streams together), MAX_CONNECTIONS. */
  admission: Admission;
  /** MAX_MESSAGE_BYTES: the largest connect body (or `cf_connect`). */
  maxBodyBytes: number;
  /** BACKPRESSURE_LIMIT_BYTES. */
  limitBytes: number;
  /** A new session of `encoding` on `transport`, for a client at `address` whose request had `headers`. */
  newSession(encoding: EncodingName, address: string, headers: Headers, transport: StreamEndpoint): StreamSession;
  /** Counts a refusal under its reason. */
  rejected(reason: string): void;
  /** A stream opened or closed (metrics). */
  opened?(name: StreamEndpoint): void;
  closed?(name: StreamEndpoint): void;
}

const METHODS: Readonly<Record<StreamEndpoint, readonly string[]>> = { http_stream: ["POST"], sse: ["GET", "POST"], uni_http_stream: ["POST"], uni_sse: ["GET", "POST"] };

/**
 * `/connection/http_stream`, `/connection/sse`, `/connection/uni_http_stream` and
 * `/connection/uni_sse`: the checks (preflight, `Origin`, capacity, the connect's size and form),
 * then a streaming answer whose session is the client protocol's own, as on a WebSocket. The
 * stream is swept with the others (slow reader, token expiry, pings) and its session ends when it
 * closes, whoever closed it.
 */
export class StreamEndpoints {
  constructor(private readonly d: StreamEndpointsDeps) {}

  /** Answers one request to a stream endpoint. */
  async handle(name: StreamEndpoint, req: Request, url: URL, server: Server<unknown>): Promise<Response> {
    const methods = METHODS[name];
    if (req.method === "OPTIONS") return preflight(req, this.d.admission, methods);
    const cors = corsHeaders(req, this.d.admission);
    const refused: Refusal | undefined = methodRefusal(req, methods) ?? originRefusal(req, this.d.admission) ?? capacityRefusal(this.d.admission);
    if (refused) return this.refuse(refused, cors);
    const max = this.d.maxBodyBytes;
    const address = server.requestIP(req)?.address ?? "";
    const open = { limitBytes: this.d.limitBytes, hub: this.d.hub, server, req, headers: cors };
    if (name === "http_stream" || name === "sse") {
      const connect = name === "sse" ? await readSseConnect(req, url, max) : await readHttpStreamConnect(req, max);
      if (isRefusal(connect)) return this.refuse(connect, cors);
      const { transport, response } = name === "sse" ? openSse({ ...open, unidirectional: false }) : openHttpStream({ ...open, encoding: connect.encoding, unidirectional: false });
      const session = this.start(name, transport, this.d.newSession(connect.encoding, address, req.headers, name));
      session.onFrame(typeof connect.frame === "string" ? connect.frame : Buffer.from(connect.frame.buffer, connect.frame.byteOffset, connect.frame.byteLength));
      return response;
    }
    const connect = name === "uni_sse" ? await readUniSseConnect(req, url, max) : await readUniHttpStreamConnect(req, max);
    if (isRefusal(connect)) return this.refuse(connect, cors);
    const { transport, response } = name === "uni_sse" ? openSse({ ...open, unidirectional: true }) : openHttpStream({ ...open, encoding: "json", unidirectional: true });
    this.start(name, transport, this.d.newSession("json", address, req.headers, name)).connectUni(connect);
    return response;
  }

  private start(name: StreamEndpoint, transport: StreamTransport, session: StreamSession): StreamSession {
    session.attach(transport);
    this.d.opened?.(name);
    this.d.streams.add(transport, (now) => session.sweep(now));
    transport.onDrain(() => session.drain());
    transport.onClose(() => {
      session.closed();
      this.d.closed?.(name);
    });
    return session;
  }

  private refuse(r: Refusal, headers: Record<string, string>): Response {
    this.d.rejected(r.reason);
    return refusalResponse(r, headers);
  }
}
