import protobuf from "protobufjs";
import { centrifugo, emulationRequest } from "@rt/protocol";
import type { EncodingName } from "../protocols/centrifugo/push.ts";
import type { Refusal } from "./http-checks.ts";

/** A `POST /emulation` body, read and checked: where it goes and the commands it carries. */
export interface EmulationCall {
  /** The gateway owning the session (the connect result's `node`). */
  node: string;
  /** The session's secret. */
  session: string;
  /** How `data` is encoded: as the body was (JSON text, or Protobuf bytes). */
  encoding: EncodingName;
  /** The commands, as one WebSocket frame of that encoding would carry them. */
  data: string | Uint8Array;
}

const root = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root;
const EmulationRequest = root.lookupType("rt.centrifugo.EmulationRequest");
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

const bad = (message: string): Refusal => ({ status: 400, reason: "emulation_body", message });

/** True when the request says its body is Protobuf (as centrifuge-js sends it; anything else is read as JSON, as Centrifugo does). */
export const isProtobufBody = (req: Request): boolean => (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase() === "application/octet-stream";

/**
 * Reads an emulation body: JSON `{"node", "session", "data"}` with `data` a string holding the JSON
 * commands, or the Protobuf message `EmulationRequest` with `data` bytes holding length-delimited
 * Commands. Anything else, or fields that do not fit (`node` a gateway id, `session` a secret's
 * form), is a 400 saying why.
 */
export function parseEmulationBody(body: Uint8Array, protobufBody: boolean): EmulationCall | Refusal {
  let value: unknown;
  if (protobufBody) {
    let m: Record<string, unknown>;
    try {
      m = EmulationRequest.toObject(EmulationRequest.decode(body), { defaults: true }) as Record<string, unknown>;
    } catch {
      return bad("the body is not a Protobuf EmulationRequest");
    }
    const data = m.data instanceof Uint8Array ? m.data : new Uint8Array(0);
    if (data.byteLength === 0) return bad("data must hold at least one command");
    // The strings are checked as the JSON form's are (their bytes are not in a JSON string there).
    value = { node: m.node, session: m.session, data: "" };
    const checked = emulationRequest.validate(value);
    if (!checked.ok) return bad(`${checked.errors[0]!.path || "body"}: ${checked.errors[0]!.message}`);
    return { node: checked.value.node, session: checked.value.session, encoding: "protobuf", data };
  }
  try {
    value = JSON.parse(fromUtf8.decode(body));
  } catch {
    return bad("the body is not JSON");
  }
  const checked = emulationRequest.validate(value);
  if (!checked.ok) return bad(`${checked.errors[0]!.path || "body"}: ${checked.errors[0]!.message}`);
  if (checked.value.data.trim() === "") return bad("data must hold at least one command");
  return { node: checked.value.node, session: checked.value.session, encoding: "json", data: checked.value.data };
}
