import type { Server } from "bun";
import { MAX_API_REQUEST_BYTES, MAX_REQUEST_BYTES, centrifugo, isApiMethod, type ApiAnswer, type NotifyRequest } from "@rt/protocol";
import { healthRoute, json, type Logger } from "@rt/runtime";
import type { Authorizer } from "./auth.ts";
import { apiError, type BatchAnswer } from "./api/dispatcher.ts";
import { sendParsed, type BatchOutcome } from "./batch.ts";
import { apiMethodLabel, type NotifierMetrics } from "./metrics.ts";
import { failed, RETRY_AFTER_SECONDS, type Outcome } from "./outcome.ts";
import { MAX_BATCH_REQUEST_BYTES, parseBody, tooLarge } from "./request.ts";

/** What the HTTP front needs from the rest of the service. */
export interface HttpDeps {
  host: string;
  port: number;
  /** Several notifier processes share the port (REUSE_PORT=1). */
  reusePort: boolean;
  log: Logger;
  auth: Authorizer;
  /** True while NATS is connected and the stream exists (`/readyz`). */
  ready: () => boolean;
  /** Stores and announces a validated request. */
  send: (req: NotifyRequest) => Promise<Outcome>;
  /** Serves one server API call (the body parsed, not yet checked). */
  api: (method: string, body: unknown) => Promise<ApiAnswer | BatchAnswer>;
  /** Counts every answer of `/notifications` and `/api/<method>`. */
  metrics: Pick<NotifierMetrics, "apiCall">;
  /** The Prometheus text of every metric (`GET /metrics`, no token: counts only). */
  scrape: () => Promise<Response>;
}

const { ErrorCode } = centrifugo;
const API_PREFIX = "/api/";

/**
 * Bun's own cap answers a bare 413 before our handler runs, so it sits far above ours: we refuse by
 * Content-Length before reading, and stop reading a chunked body at MAX_REQUEST_BYTES (readAtMost),
 * so a client always gets our 413 with a JSON body.
 */
const SERVER_BODY_LIMIT = Number.MAX_SAFE_INTEGER;

/** Starts `POST /notifications`, `POST /api/<method>` (the server API), `GET /healthz`, `GET /readyz`, `GET /metrics`. */
export function startHttp(deps: HttpDeps): Server<undefined> {
  return Bun.serve({
    hostname: deps.host,
    port: deps.port,
    // With REUSE_PORT=1 several notifier processes share the port (the kernel spreads connections): they are stateless, and share NATS queue groups.
    reusePort: deps.reusePort,
    maxRequestBodySize: SERVER_BODY_LIMIT,
    fetch: (req) => route(req, deps),
    error(err) {
      deps.log.error({ err }, "http handler failed");
      return respond(failed(500, "internal error"));
    },
  });
}

async function route(req: Request, deps: HttpDeps): Promise<Response> {
  const path = pathOf(req.url);
  if (path === "/healthz" || path === "/readyz") {
    if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed("GET");
    return healthRoute(path, deps.ready)!;
  }
  if (path === "/metrics") {
    if (req.method !== "GET") return methodNotAllowed("GET");
    return deps.scrape();
  }
  if (path.startsWith(API_PREFIX) || path === API_PREFIX.slice(0, -1)) {
    const method = path.slice(API_PREFIX.length);
    const res = req.method === "POST" ? await postApi(req, method, deps) : json(405, apiError(ErrorCode.BadRequest, "method not allowed: use POST"), { allow: "POST" });
    deps.metrics.apiCall(apiMethodLabel(method), res.status, "http");
    return res;
  }
  if (path !== "/notifications") return respond(failed(404, "not found"));
  const outcome = req.method === "POST" ? await postNotification(req, deps) : undefined;
  // A batch answers an array, item by item; anything else (a refused batch too) counts as `notify`.
  deps.metrics.apiCall(Array.isArray(outcome?.body) ? "notify_batch" : "notify", outcome?.status ?? 405, "http");
  return outcome ? respond(outcome) : methodNotAllowed("POST");
}

/** The path of a request URL (`http://host:port/path?query`) without building a URL object (one per request showed in profiles). */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One notification (an object) or a batch (an array of them). */
async function postNotification(req: Request, deps: HttpDeps): Promise<Outcome | BatchOutcome> {
  if (!deps.auth.allows(req.headers.get("authorization"))) return failed(401, "a valid bearer token is required");
  if (!isJson(req.headers.get("content-type"))) return failed(415, "content-type must be application/json");
  const bytes = await readBody(req, MAX_BATCH_REQUEST_BYTES, MAX_REQUEST_BYTES);
  if (bytes === undefined) return tooLarge(Number(req.headers.get("content-length")) > MAX_BATCH_REQUEST_BYTES ? MAX_BATCH_REQUEST_BYTES : MAX_REQUEST_BYTES);
  return sendParsed(parseBody(bytes), deps.send);
}

/**
 * `POST /api/<method>`: 401 without an API key, 404 for an unknown method, 413 over
 * MAX_API_REQUEST_BYTES, 400 for a body that is not JSON (an empty body is `{}`); otherwise 200
 * with `{"result"}` or `{"error"}` (or a batch's `{"replies"}`).
 */
async function postApi(req: Request, method: string, deps: HttpDeps): Promise<Response> {
  if (!deps.auth.allowsApi(req.headers)) return json(401, apiError(ErrorCode.Unauthorized), { "www-authenticate": "apikey" });
  if (!isApiMethod(method)) return json(404, apiError(ErrorCode.MethodNotFound, "not found"));
  const declared = Number(req.headers.get("content-length") ?? Number.NaN);
  let body: unknown;
  try {
    if (declared > 0 && declared <= MAX_API_REQUEST_BYTES) {
      // Read and parsed natively, as Centrifugo reads it (invalid UTF-8 in strings becomes U+FFFD).
      body = await req.json();
    } else {
      const bytes = await readBody(req, MAX_API_REQUEST_BYTES);
      if (bytes === undefined) return json(413, apiError(ErrorCode.BadRequest, `request must be at most ${MAX_API_REQUEST_BYTES} bytes`));
      body = bytes.byteLength === 0 ? {} : JSON.parse(utf8.decode(bytes));
    }
  } catch {
    return json(400, apiError(ErrorCode.BadRequest, "the body must be JSON"));
  }
  return new Response(JSON.stringify(await deps.api(method, body)), API_OK);
}

/** The init of every 200 answer of the API (one object, not one per request). */
const API_OK: ResponseInit = { status: 200, headers: { "content-type": "application/json" } };

/**
 * The body, or undefined when it is over `limit` bytes, declared or sent (the rest read and dropped
 * first, then 413). With `whenNotArray`, a body over that is refused as soon as its first bytes show
 * it is not an array (a batch), without waiting for the rest.
 */
async function readBody(req: Request, limit: number, whenNotArray = limit): Promise<Uint8Array | undefined> {
  if (req.body === null) return new Uint8Array(0);
  const declared = Number(req.headers.get("content-length") ?? Number.NaN);
  // A declared length within bounds: Bun reads exactly that many bytes, natively (a stream reader costs far more CPU).
  if (declared <= whenNotArray && declared <= limit) return new Uint8Array(await req.arrayBuffer());
  const reader = req.body.getReader();
  if (declared > limit) {
    await discard(reader, 0); // let a client that is still sending finish, then answer
    return undefined;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  let shape: "unknown" | "array" | "other" = "unknown";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    chunks.push(value);
    if (shape === "unknown") shape = firstByte(chunks);
    if (total > limit || (shape === "other" && Math.max(total, declared || 0) > whenNotArray)) {
      await discard(reader, total);
      return undefined;
    }
  }
  return Buffer.concat(chunks, total);
}

/** application/json, with or without parameters (charset). */
function isJson(contentType: string | null): boolean {
  return contentType?.split(";")[0]?.trim().toLowerCase() === "application/json";
}

/** Whether a body that starts with these chunks is a JSON array (its first non-space byte). */
function firstByte(chunks: readonly Uint8Array[]): "unknown" | "array" | "other" {
  for (const c of chunks) {
    for (const b of c) {
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue;
      return b === 0x5b ? "array" : "other";
    }
  }
  return "unknown";
}

/**
 * An oversize body is still read (and thrown away) before the 413, up to this many bytes and for as
 * long as it keeps coming: a client that sends everything before reading (Python's urllib, curl
 * without Expect) then reads our answer instead of a broken pipe, and one that sends nothing more
 * gets it after IDLE_MS. Beyond the bound the connection is closed.
 */
export const DISCARD_LIMIT_BYTES = 16 * 1024 * 1024;
const IDLE_MS = 500;

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
function respond(o: Outcome | BatchOutcome): Response {
  const extra: Record<string, string> = {};
  if (o.status === 503) extra["retry-after"] = String(RETRY_AFTER_SECONDS);
  if (o.status === 401) extra["www-authenticate"] = "Bearer";
  return json(o.status, o.body, extra);
}

function methodNotAllowed(allow: string): Response {
  return json(405, { errors: [{ path: "", message: "method not allowed" }] }, { allow });
}
