import { centrifugo } from "@rt/protocol";
import { JsonCodec } from "../protocols/centrifugo/codec-json.ts";
import { ProtobufCodec } from "../protocols/centrifugo/codec-protobuf.ts";
import type { EncodingName } from "../protocols/centrifugo/push.ts";
import { isProtobufBody } from "./emulation-request.ts";
import { isRefusal, methodRefusal, readBody, type Refusal } from "./http-checks.ts";

/**
 * How each transport's connect arrives, read and checked before a session exists
 * (docs/transports.md, "Connecting"):
 * - bidirectional (`http_stream`, `sse`): a whole command frame, `{"id":1,"connect":{…}}` (JSON;
 *   Protobuf for http_stream with `Content-Type: application/octet-stream`), in the POST body or in
 *   `cf_connect` (SSE's GET); the session reads it as its first WebSocket frame;
 * - unidirectional (`uni_websocket`, `uni_sse`, `uni_http_stream`): a bare connect request,
 *   `{"token":…}`, as the first WebSocket message, in `cf_connect` or the POST body; an absent one
 *   (uni_sse GET without `cf_connect`) is `{}`, for a connect proxy deciding by cookies.
 */

/** The query parameter carrying the connect (SSE, uni_sse): as centrifuge-js and Centrifugo name it. */
export const CONNECT_PARAM = "cf_connect";

/** A bidirectional connect: the first frame of the session, and its commands (the first a connect). */
export interface BidiConnect {
  encoding: EncodingName;
  /** The frame as received (JSON text or Protobuf bytes): what the session reads first. */
  frame: string | Uint8Array;
  /** Its commands, decoded by the encoding's codec; `commands[0]` has `id` and `connect`. */
  commands: unknown[];
}

/** A unidirectional connect: the connect request, checked against the protocol's schema. */
export type UniConnect = centrifugo.ConnectRequest;

const codecs = { json: new JsonCodec(), protobuf: new ProtobufCodec() };
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });
const bad = (message: string): Refusal => ({ status: 400, reason: "connect_request", message });

/** Checks a bidirectional first frame: readable by its codec, its first command a `connect` with an `id`. */
export function parseBidiFrame(encoding: EncodingName, frame: string | Uint8Array): BidiConnect | Refusal {
  const commands = codecs[encoding].decode(typeof frame === "string" ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
  if (!commands) return bad(encoding === "json" ? "the connect must be JSON commands, one per line" : "the connect must be length-delimited Protobuf commands");
  const first = commands[0] as { id?: unknown; connect?: unknown };
  if (typeof first.id !== "number" || first.id < 1 || typeof first.connect !== "object" || first.connect === null) return bad('the first command must be a connect with an id: {"id":1,"connect":{…}}');
  return { encoding, frame, commands };
}

/** Checks a bare connect request (JSON text) against the protocol's schema. */
export function parseUniConnect(text: string): UniConnect | Refusal {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad('the connect request must be a JSON object: {"token":…}');
  }
  const checked = centrifugo.METHODS.connect.validate(value);
  if (!checked.ok) return bad(`connect request${checked.errors[0]!.path}: ${checked.errors[0]!.message}`);
  // Unknown fields are ignored, as Centrifugo does; a whole command would otherwise read as a connect without a token.
  if ("connect" in checked.value) return bad('a bare connect request is expected here ({"token":…}), not a command ({"id":1,"connect":{…}})');
  return checked.value;
}

/** `POST /connection/http_stream`: the body is the first frame (Protobuf when its Content-Type says `application/octet-stream`). */
export async function readHttpStreamConnect(req: Request, maxBytes: number): Promise<BidiConnect | Refusal> {
  const refused = methodRefusal(req, ["POST"]);
  if (refused) return refused;
  const body = await readBody(req, maxBytes);
  if (isRefusal(body)) return body;
  if (isProtobufBody(req)) return parseBidiFrame("protobuf", body);
  const text = utf8(body);
  return text === undefined ? bad("the body is not UTF-8") : parseBidiFrame("json", text);
}

/** `GET /connection/sse?cf_connect=…` (or a POST with the frame as its body): JSON only. */
export async function readSseConnect(req: Request, url: URL, maxBytes: number): Promise<BidiConnect | Refusal> {
  const refused = methodRefusal(req, ["GET", "POST"]);
  if (refused) return refused;
  const text = await connectText(req, url, maxBytes);
  if (isRefusal(text)) return text;
  if (text === undefined) return bad(`the connect command is missing: ${CONNECT_PARAM}`);
  return parseBidiFrame("json", text);
}

/** `GET /connection/uni_sse[?cf_connect=…]` or `POST /connection/uni_sse` with the connect request as its body. */
export async function readUniSseConnect(req: Request, url: URL, maxBytes: number): Promise<UniConnect | Refusal> {
  const refused = methodRefusal(req, ["GET", "POST"]);
  if (refused) return refused;
  const text = await connectText(req, url, maxBytes);
  if (isRefusal(text)) return text;
  return text === undefined ? {} : parseUniConnect(text);
}

/** `POST /connection/uni_http_stream` with the connect request as its body. */
export async function readUniHttpStreamConnect(req: Request, maxBytes: number): Promise<UniConnect | Refusal> {
  const refused = methodRefusal(req, ["POST"]);
  if (refused) return refused;
  const body = await readBody(req, maxBytes);
  if (isRefusal(body)) return body;
  const text = utf8(body);
  return text === undefined ? bad("the body is not UTF-8") : parseUniConnect(text);
}

/** `/connection/uni_websocket`: its first message is the connect request (a text frame; Bun has applied MAX_MESSAGE_BYTES). */
export function readUniWebSocketConnect(message: string | Buffer): UniConnect | Refusal {
  if (typeof message !== "string") return bad("the connect request must be a text frame");
  return parseUniConnect(message);
}

/** The connect text of a GET (`cf_connect`; undefined when absent or empty) or a POST (its body; undefined when empty). */
async function connectText(req: Request, url: URL, maxBytes: number): Promise<string | undefined | Refusal> {
  if (req.method === "GET") {
    const text = url.searchParams.get(CONNECT_PARAM);
    if (text === null || text === "") return undefined;
    if (text.length > maxBytes) return { status: 413, reason: "body_size", message: `${CONNECT_PARAM} is longer than ${maxBytes} bytes` };
    return text;
  }
  const body = await readBody(req, maxBytes);
  if (isRefusal(body)) return body;
  if (body.byteLength === 0) return undefined;
  return utf8(body) ?? bad("the body is not UTF-8");
}

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return fromUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
