import type { Server } from "bun";
import type { EncodingName } from "../protocols/centrifugo/push.ts";
import type { Hub } from "./hub.ts";
import { StreamTransport } from "./stream-transport.ts";

/**
 * Headers of every streaming answer: never cached or transformed (compressed) on the way, never
 * buffered by nginx (`X-Accel-Buffering: no`, whatever its `proxy_buffering`), and the connection
 * closed after it (a client reconnects with a new request anyway; without this, a client that
 * stopped reading would keep its socket open here after the end).
 */
export const STREAM_HEADERS: Readonly<Record<string, string>> = {
  "Cache-Control": "private, no-cache, no-store, must-revalidate, max-age=0, no-transform",
  Pragma: "no-cache",
  Expires: "0",
  "X-Accel-Buffering": "no",
  Connection: "close",
};

/** Content types of the HTTP-streaming answer. */
export const HTTP_STREAM_CONTENT_TYPE: Readonly<Record<EncodingName, string>> = {
  json: "application/x-ndjson; charset=utf-8",
  protobuf: "application/octet-stream",
};

/** What opening a streaming answer needs. */
export interface OpenStreamOptions {
  /** BACKPRESSURE_LIMIT_BYTES: a reader that leaves more unread is cut. */
  limitBytes: number;
  hub: Hub;
  /** The request being answered and its server: Bun's idle timeout (10 s unless set) would end the stream, so it is turned off for this request; the protocol's pings keep it alive. */
  server: Pick<Server<unknown>, "timeout">;
  req: Request;
  /** More headers (CORS: corsHeaders in http-checks.ts). */
  headers?: Record<string, string>;
  /** How long a closed stream may take to be read to its end before it is cut (default 5 s). */
  closeGraceMs?: number;
}

/** A transport and the response that carries it: write the connect reply to the transport, then return the response from `fetch`. */
export interface OpenedStream {
  transport: StreamTransport;
  response: Response;
}

/**
 * `/connection/http_stream` (bidirectional, JSON or Protobuf as the request's Content-Type said)
 * and `/connection/uni_http_stream` (push-only, JSON): a 200 whose body streams the replies and
 * pushes, JSON one per line or Protobuf length-delimited.
 */
export function openHttpStream(o: OpenStreamOptions & { encoding: EncodingName; unidirectional: boolean }): OpenedStream {
  if (o.unidirectional && o.encoding !== "json") throw new RangeError("the unidirectional HTTP stream speaks JSON only");
  const transport = new StreamTransport({ name: o.unidirectional ? "uni_http_stream" : "http_stream", encoding: o.encoding, limitBytes: o.limitBytes, hub: o.hub, closeGraceMs: o.closeGraceMs });
  o.server.timeout(o.req, 0);
  const headers = { ...STREAM_HEADERS, ...o.headers, "Content-Type": HTTP_STREAM_CONTENT_TYPE[o.encoding] };
  return { transport, response: new Response(transport.body, { status: 200, headers }) };
}
