import Type, { type Static } from "typebox";
import { GatewayId } from "./presence.ts";
import { validator } from "./validator.ts";

/**
 * A session id as the connect result's `session` carries it: a secret of 32 random bytes
 * (base64url), never the client id that presence and the server API show. Anything that cannot be
 * one is a bad request.
 */
export const SessionSecret = Type.String({ pattern: "^[A-Za-z0-9_-]{16,128}$", minLength: 16, maxLength: 128, description: "The session's secret: the connect result's `session`, never its client id." });

/** The longest `data` an emulation request carries here (the HTTP body limit comes first). */
const MAX_EMULATION_DATA = 1024 * 1024;

/**
 * `POST /emulation` with `Content-Type: application/json` (JSON clients, SSE included): the
 * commands the client sends after its connect. `node` is the connect result's `node` (the gateway
 * owning the session), `session` its `session`, and `data` the commands as the JSON protocol writes
 * them (one per line), as a JSON string. Protobuf clients send the same three fields as the
 * Protobuf message `EmulationRequest` (`application/octet-stream`; `data` is then bytes).
 */
export const EmulationRequest = Type.Object({
  node: Type.String({ ...GatewayId, description: "The gateway owning the session: the connect result's `node`." }),
  session: SessionSecret,
  data: Type.String({ maxLength: MAX_EMULATION_DATA, description: "The commands as the JSON protocol writes them, one per line." }),
});
export type EmulationRequest = Static<typeof EmulationRequest>;
export const emulationRequest = validator(EmulationRequest);

/**
 * An emulation request handed over NATS to the gateway owning the session
 * (`gateway.emulation.<gateway>`): `data` is the JSON text (JSON sessions) or the base64 of the
 * Protobuf bytes (Protobuf sessions), as `encoding` says.
 */
export const EmulationForward = Type.Object({
  session: SessionSecret,
  encoding: Type.Union([Type.Literal("json"), Type.Literal("protobuf")], { description: "How the client encoded `data` (its session's encoding, or the request is refused)." }),
  data: Type.String({ maxLength: 2 * MAX_EMULATION_DATA, description: "The commands: JSON text (one per line), or the base64 of length-delimited Protobuf Commands." }),
});
export type EmulationForward = Static<typeof EmulationForward>;
export const emulationForward = validator(EmulationForward);

/**
 * The owning gateway's answer to an EmulationForward: `delivered` once the session took the
 * commands, `gone` when it has no such session, `bad_request` when the data does not fit the
 * session (another encoding), `busy` when the session has too many requests waiting.
 */
export const EmulationAnswer = Type.Object({
  outcome: Type.Union([Type.Literal("delivered"), Type.Literal("gone"), Type.Literal("bad_request"), Type.Literal("busy")], { description: "`delivered`, `gone`, `bad_request` or `busy`." }),
});
export type EmulationAnswer = Static<typeof EmulationAnswer>;
export const emulationAnswer = validator(EmulationAnswer);
