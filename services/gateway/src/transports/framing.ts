import protobuf from "protobufjs";
import { centrifugo } from "@rt/protocol";
import type { Disconnect } from "./transport.ts";

/**
 * How protocol frames travel on an HTTP response (docs/transports.md, "On the wire"). A frame is
 * what one WebSocket frame of the client protocol carries: JSON replies one per line, or Protobuf
 * replies each prefixed by its varint length.
 * - `ndjson`: HTTP-streaming, JSON: each reply on its own line (`\n` after each).
 * - `protobuf`: HTTP-streaming, Protobuf: the length-delimited replies one after another.
 * - `sse`: Server-Sent Events (JSON only): each reply its own event, `data: <reply>\n\n`.
 * - `uni-ndjson`, `uni-sse`: the same for the unidirectional transports, whose messages are the
 *   pushes themselves: `{"channel":…,"pub":{…}}` where a bidirectional client gets
 *   `{"push":{"channel":…,"pub":{…}}}`.
 */
export type WireFormat = "ndjson" | "protobuf" | "sse" | "uni-ndjson" | "uni-sse";

/** Every wire format, for tables and tests. */
export const WIRE_FORMATS: readonly WireFormat[] = ["ndjson", "protobuf", "sse", "uni-ndjson", "uni-sse"];

const utf8 = new TextEncoder();
const PUSH_OPEN = '{"push":';

/**
 * A JSON frame in the unidirectional form: every line `{"push":X}` becomes `X`; other lines (the
 * connect push `{"connect":…}`, a ping `{}`) stay as they are. Pushes are written by
 * `JSON.stringify` with `push` as the only key, so the wrapper is exactly the line's first 8 and
 * last character.
 */
export function toUni(frame: string): string {
  if (!frame.includes(PUSH_OPEN)) return frame;
  if (!frame.includes("\n")) return unwrapLine(frame);
  return frame.split("\n").map(unwrapLine).join("\n");
}

function unwrapLine(line: string): string {
  return line.startsWith(PUSH_OPEN) && line.endsWith("}") ? line.slice(PUSH_OPEN.length, -1) : line;
}

/** The bytes `frame` takes on a stream of `format` (uni formats: `frame` in the unidirectional form already). */
export function wireBytes(format: WireFormat, frame: string | Uint8Array): Uint8Array {
  if (format === "protobuf") {
    if (typeof frame === "string") throw new TypeError("a Protobuf stream takes binary frames");
    return frame;
  }
  if (typeof frame !== "string") throw new TypeError(`a ${format} stream takes JSON text frames`);
  switch (format) {
    case "ndjson":
    case "uni-ndjson":
      return utf8.encode(`${frame}\n`);
    case "sse":
    case "uni-sse":
      return utf8.encode(sseEvents(frame));
  }
}

/**
 * `frame` as Server-Sent Events: one event per line (JSON text never holds a raw newline, so a
 * line is one reply). A browser's EventSource hands each event's data to `onmessage` whole. A raw
 * CR, which SSE reads as a line end, can only be whitespace between JSON tokens (text relayed as
 * it came, a metrics sample say): it becomes a space.
 */
function sseEvents(frame: string): string {
  if (frame.includes("\r")) frame = frame.replaceAll("\r", " ");
  if (!frame.includes("\n")) return `data: ${frame}\n\n`;
  let out = "";
  for (const line of frame.split("\n")) if (line !== "") out += `data: ${line}\n\n`;
  return out;
}

/** What an SSE response starts with, so its headers leave at once (Bun sends them with the first bytes): an empty line, which carries no event. */
export const SSE_PREAMBLE = utf8.encode("\r\n");

const root = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root;
const Reply = root.lookupType("rt.centrifugo.Reply");

/**
 * The push that tells a client why its connection ends, in `format` (written before a stream's
 * end; the SDKs reconnect or stop by its code, as for a WebSocket close code).
 */
export function disconnectBytes(format: WireFormat, d: Disconnect): Uint8Array {
  const disconnect = { code: d.code, reason: d.reason };
  switch (format) {
    case "protobuf": {
      const w = protobuf.Writer.create();
      Reply.encodeDelimited({ push: { disconnect } }, w);
      return w.finish();
    }
    case "ndjson":
    case "sse":
      return wireBytes(format, JSON.stringify({ push: { disconnect } }));
    case "uni-ndjson":
    case "uni-sse":
      return wireBytes(format, JSON.stringify({ disconnect }));
  }
}

/** The format of a transport: its encoding, and whether it is SSE and push-only. */
export function formatOf(sse: boolean, protobufEncoding: boolean, unidirectional: boolean): WireFormat {
  if (protobufEncoding) {
    if (sse || unidirectional) throw new RangeError("SSE and the unidirectional transports speak JSON only");
    return "protobuf";
  }
  if (sse) return unidirectional ? "uni-sse" : "sse";
  return unidirectional ? "uni-ndjson" : "ndjson";
}
