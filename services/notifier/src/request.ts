import { MAX_BODY_BYTES, MAX_JSON_DEPTH, MAX_REQUEST_BYTES, depthWithin, notifyRequest, type NotifyRequest } from "@rt/protocol";
import { failed, type Failed } from "./outcome.ts";

/** A request that passed every check, or the error outcome to answer with. */
export type ParsedRequest = { ok: true; request: NotifyRequest } | { ok: false; outcome: Failed };

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Most notifications in one batch (an array body). */
export const MAX_BATCH_ITEMS = 1000;
/** Largest batch request (each notification in it is still at most MAX_REQUEST_BYTES). */
export const MAX_BATCH_REQUEST_BYTES = 4 * 1024 * 1024;

/** A raw request: one notification (an object) or a batch (an array of them), each item checked on its own. */
export type ParsedBody = ParsedRequest | { ok: true; batch: ParsedRequest[] };

/**
 * Checks a raw request (HTTP body or NATS payload): size, UTF-8, JSON; then one notification, or a
 * batch of 1 to MAX_BATCH_ITEMS whose items are checked one by one (a bad item fails alone).
 */
export function parseBody(bytes: Uint8Array): ParsedBody {
  if (bytes.byteLength > MAX_BATCH_REQUEST_BYTES) return { ok: false, outcome: tooLarge(MAX_BATCH_REQUEST_BYTES) };
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return { ok: false, outcome: failed(400, "must be valid JSON") };
  }
  if (!Array.isArray(value)) return bytes.byteLength > MAX_REQUEST_BYTES ? { ok: false, outcome: tooLarge() } : checkRequest(value);
  if (value.length === 0 || value.length > MAX_BATCH_ITEMS) return { ok: false, outcome: failed(400, `a batch must hold 1 to ${MAX_BATCH_ITEMS} notifications`) };
  return { ok: true, batch: value.map((item, i) => prefixed(checkRequest(item), `/${i}`)) };
}

/** An item's errors, with their paths inside the batch. */
function prefixed(r: ParsedRequest, prefix: string): ParsedRequest {
  if (r.ok) return r;
  return { ok: false, outcome: { status: r.outcome.status, body: { errors: r.outcome.body.errors.map((e) => ({ path: `${prefix}${e.path}`, message: e.message })) } } };
}

/** Checks a raw request (HTTP body or NATS payload) holding one notification: size, UTF-8, JSON, schema, `data` depth, then the body size. */
export function parseRequest(bytes: Uint8Array): ParsedRequest {
  if (bytes.byteLength > MAX_REQUEST_BYTES) return { ok: false, outcome: tooLarge() };
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    return { ok: false, outcome: failed(400, "must be valid JSON") };
  }
  return checkRequest(value);
}

/** Checks one notification request: schema, `data` depth, then the body size. */
function checkRequest(value: unknown): ParsedRequest {
  const checked = notifyRequest.validate(value);
  if (!checked.ok) return { ok: false, outcome: { status: 400, body: { errors: checked.errors } } };
  // Gateways serialize `data` again for every notification; hostile depth would overflow their stack.
  if (!depthWithin(checked.value.data)) return { ok: false, outcome: failed(400, `must be nested at most ${MAX_JSON_DEPTH} levels deep`, "/data") };
  if (Buffer.byteLength(checked.value.body, "utf8") > MAX_BODY_BYTES) {
    return { ok: false, outcome: failed(413, `must be at most ${MAX_BODY_BYTES} bytes of UTF-8`, "/body") };
  }
  return { ok: true, request: checked.value };
}

/** 413 for a request over MAX_REQUEST_BYTES (or another limit). */
export const tooLarge = (limit: number = MAX_REQUEST_BYTES): Failed => failed(413, `request must be at most ${limit} bytes`);
