import type { Server } from "bun";
import { MAX_REQUEST_BYTES, type NotifyRequest } from "@rt/protocol";
import { healthRoute, json, type Logger } from "@rt/runtime";
import type { Authorizer } from "./auth.ts";
import { failed, RETRY_AFTER_SECONDS, type Outcome } from "./outcome.ts";
import { parseRequest, tooLarge } from "./request.ts";

/** What the HTTP front needs from the rest of the service. */
export interface HttpDeps {
  host: string;
  port: number;
  log: Logger;
  auth: Authorizer;
  /** True while NATS is connected and the stream exists (`/readyz`). */
  ready: () => boolean;
  /** Stores and announces a validated request. */
  send: (req: NotifyRequest) => Promise<Outcome>;
}

/**
 * Bun's own cap answers a bare 413 before our handler runs, so it sits far above ours: we refuse by
 * Content-Length before reading, and stop reading a chunked body at MAX_REQUEST_BYTES (readAtMost),
 * so a client always gets our 413 with a JSON body.
 */
const SERVER_BODY_LIMIT = Number.MAX_SAFE_INTEGER;

/** Starts `POST /notifications`, `GET /healthz`, `GET /readyz`. */
export function startHttp(deps: HttpDeps): Server<undefined> {
  return Bun.serve({
    hostname: deps.host,
    port: deps.port,
    maxRequestBodySize: SERVER_BODY_LIMIT,
    fetch: (req) => route(req, deps),
    error(err) {
      deps.log.error({ err }, "http handler failed");
      return respond(failed(500, "internal error"));
    },
  });
}

async function route(req: Request, deps: HttpDeps): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (path === "/healthz" || path === "/readyz") {
    if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed("GET");
    return healthRoute(path, deps.ready)!;
  }
  if (path !== "/notifications") return respond(failed(404, "not found"));
  if (req.method !== "POST") return methodNotAllowed("POST");
  return respond(await postNotification(req, deps));
}

async function postNotification(req: Request, deps: HttpDeps): Promise<Outcome> {
  if (!deps.auth.allows(req.headers.get("authorization"))) return failed(401, "a valid bearer token is required");
  if (!isJson(req.headers.get("content-type"))) return failed(415, "content-type must be application/json");
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_REQUEST_BYTES) {
    if (req.body !== null) await discard(req.body.getReader(), 0); // let a client that is still sending finish, then answer
    return tooLarge();
  }
  const bytes = await readAtMost(req, MAX_REQUEST_BYTES);
  if (bytes === undefined) return tooLarge();
  const parsed = parseRequest(bytes);
  if (!parsed.ok) return parsed.outcome;
  return deps.send(parsed.request);
}

/** application/json, with or without parameters (charset). */
function isJson(contentType: string | null): boolean {
  return contentType?.split(";")[0]?.trim().toLowerCase() === "application/json";
}

/**
 * An oversize body is still read (and thrown away) before the 413, up to this many bytes and for as
 * long as it keeps coming: a client that sends everything before reading (Python's urllib, curl
 * without Expect) then reads our answer instead of a broken pipe, and one that sends nothing more
 * gets it after IDLE_MS. Beyond the bound the connection is closed.
 */
export const DISCARD_LIMIT_BYTES = 16 * 1024 * 1024;
const IDLE_MS = 500;

/** The request body, or undefined when it is over `limit` bytes (the rest read and dropped first). */
async function readAtMost(req: Request, limit: number): Promise<Uint8Array | undefined> {
  if (req.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await discard(reader, total);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/** The part of a body reader that discarding needs. */
interface BodyReader {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
  cancel(): Promise<void>;
}

/** Reads the rest of a body and drops it: until it ends, goes quiet for IDLE_MS, or passes DISCARD_LIMIT_BYTES. */
async function discard(reader: BodyReader, seen: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    for (let total = seen; total <= DISCARD_LIMIT_BYTES; ) {
      const idle = new Promise<"idle">((resolve) => (timer = setTimeout(() => resolve("idle"), IDLE_MS)));
      const r = await Promise.race([reader.read(), idle]);
      clearTimeout(timer);
      if (r === "idle" || r.done) break;
      total += r.value?.byteLength ?? 0;
    }
    await reader.cancel();
  } catch {
    // the client went away
  } finally {
    clearTimeout(timer);
  }
}

/** The HTTP form of an outcome; a 503 says when to retry. */
function respond(o: Outcome): Response {
  const extra: Record<string, string> = {};
  if (o.status === 503) extra["retry-after"] = String(RETRY_AFTER_SECONDS);
  if (o.status === 401) extra["www-authenticate"] = "Bearer";
  return json(o.status, o.body, extra);
}

function methodNotAllowed(allow: string): Response {
  return json(405, { errors: [{ path: "", message: "method not allowed" }] }, { allow });
}
