import { SSE_PREAMBLE } from "./framing.ts";
import { STREAM_HEADERS, type OpenStreamOptions, type OpenedStream } from "./http-stream.ts";
import { StreamTransport } from "./stream-transport.ts";

/** The SSE answer's content type. */
export const SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8";

/**
 * `/connection/sse` (bidirectional: the commands after connect come through `/emulation`) and
 * `/connection/uni_sse` (push-only): a 200 `text/event-stream` whose events each carry one JSON
 * reply or push (`data: {…}`). JSON only: the SDKs never speak Protobuf over SSE. It starts with an
 * empty line so the headers leave at once (a browser's EventSource opens then).
 */
export function openSse(o: OpenStreamOptions & { unidirectional: boolean }): OpenedStream {
  const transport = new StreamTransport({ name: o.unidirectional ? "uni_sse" : "sse", encoding: "json", limitBytes: o.limitBytes, hub: o.hub, closeGraceMs: o.closeGraceMs, preamble: SSE_PREAMBLE });
  o.server.timeout(o.req, 0);
  const headers = { ...STREAM_HEADERS, ...o.headers, "Content-Type": SSE_CONTENT_TYPE };
  return { transport, response: new Response(transport.body, { status: 200, headers }) };
}
