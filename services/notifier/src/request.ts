import { MAX_BODY_BYTES, MAX_JSON_DEPTH, MAX_REQUEST_BYTES, depthWithin, notifyRequest, type NotifyRequest } from "@rt/protocol";
import { failed, type Failed } from "./outcome.ts";

/** A request that passed every check, or the error outcome to answer with. */
export type ParsedRequest = { ok: true; request: NotifyRequest } | { ok: false; outcome: Failed };

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Checks a raw request (HTTP body or NATS payload): size, UTF-8, JSON, schema, `data` depth, then the body size. */
export function parseRequest(bytes: Uint8Array): ParsedRequest {
  if (bytes.byteLength > MAX_REQUEST_BYTES) return { ok: false, outcome: tooLarge() };
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return { ok: false, outcome: failed(400, "must be valid JSON") };
  }
  const checked = notifyRequest.validate(value);
  if (!checked.ok) return { ok: false, outcome: { status: 400, body: { errors: checked.errors } } };
  // Gateways serialize `data` again for every notification; hostile depth would overflow their stack.
  if (!depthWithin(checked.value.data)) return { ok: false, outcome: failed(400, `must be nested at most ${MAX_JSON_DEPTH} levels deep`, "/data") };
  if (Buffer.byteLength(checked.value.body, "utf8") > MAX_BODY_BYTES) {
    return { ok: false, outcome: failed(413, `must be at most ${MAX_BODY_BYTES} bytes of UTF-8`, "/body") };
  }
  return { ok: true, request: checked.value };
}

/** 413 for a request over MAX_REQUEST_BYTES. */
export const tooLarge = (): Failed => failed(413, `request must be at most ${MAX_REQUEST_BYTES} bytes`);
