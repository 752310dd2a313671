/**
 * The checks an HTTP transport request (`/connection/http_stream`, `/connection/sse`, the `uni_`
 * ones, `/emulation`) goes through before anything else: 404 path (the route table), 405 method
 * (OPTIONS is the browser's preflight: 204), 403 `Origin`, 503 full or shutting down (a stream
 * connect; before its body is read), 413/400 body. A refusal is a status, a reason to
 * count (Rejections) and a message for the JSON body `{"error": message}`.
 */
export interface Refusal {
  status: number;
  /** The `reason` label of `rt_rejections_total`. */
  reason: string;
  message: string;
}

/** What the origin and capacity checks read (the gateway's config and state). */
export interface Admission {
  /** ALLOWED_ORIGINS; undefined: any origin. */
  allowedOrigins: ReadonlySet<string> | undefined;
  /** False once shutdown began. */
  accepting: () => boolean;
  /** Connections open now, every transport together (WebSockets and streams). */
  connections: () => number;
  /** MAX_CONNECTIONS. */
  maxConnections: number;
}

/** 405 unless `req.method` is one of `methods` (OPTIONS is answered by `preflight` before this). */
export function methodRefusal(req: Request, methods: readonly string[]): Refusal | undefined {
  return methods.includes(req.method) ? undefined : { status: 405, reason: "method", message: `use ${methods.join(" or ")}` };
}

/** 403 when the request has an `Origin` not allowed (none, as non-browser clients send: allowed), as for an upgrade. */
export function originRefusal(req: Request, a: Pick<Admission, "allowedOrigins">): Refusal | undefined {
  const origin = req.headers.get("origin");
  if (origin === null || !a.allowedOrigins || a.allowedOrigins.has(origin)) return undefined;
  return { status: 403, reason: "origin", message: "origin not allowed" };
}

/** 503 when shutting down or every connection is taken (streams count as sockets do). */
export function capacityRefusal(a: Pick<Admission, "accepting" | "connections" | "maxConnections">): Refusal | undefined {
  if (a.accepting() && a.connections() < a.maxConnections) return undefined;
  return { status: 503, reason: "capacity", message: "gateway is full or shutting down" };
}

/**
 * CORS headers for an answer to a browser on another origin that may connect: its own origin back
 * (never `*`: the SDKs send credentials with `same-origin`, cookies of a connect proxy included).
 * None for a request without `Origin` or with one not allowed.
 */
export function corsHeaders(req: Request, a: Pick<Admission, "allowedOrigins">): Record<string, string> {
  const origin = req.headers.get("origin");
  if (origin === null || (a.allowedOrigins && !a.allowedOrigins.has(origin))) return {};
  return { "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", Vary: "Origin" };
}

/**
 * The answer to a browser's preflight (`OPTIONS`): 204 with the methods and the `Content-Type`
 * header the SDKs send (JSON or `application/octet-stream` POSTs are not "simple" requests); 403
 * for an origin not allowed.
 */
export function preflight(req: Request, a: Pick<Admission, "allowedOrigins">, methods: readonly string[]): Response {
  const refused = originRefusal(req, a);
  if (refused) return Response.json({ error: refused.message }, { status: refused.status });
  return new Response(null, {
    status: 204,
    headers: { ...corsHeaders(req, a), "Access-Control-Allow-Methods": methods.join(", "), "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "600" },
  });
}

/**
 * Reads a request body of at most `maxBytes`: 413 as soon as `Content-Length` or the bytes read say
 * it is larger (the rest is never read), so a client cannot make the gateway hold more.
 */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array | Refusal> {
  const tooLarge: Refusal = { status: 413, reason: "body_size", message: `the body is larger than ${maxBytes} bytes` };
  const declared = req.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= maxBytes)) return tooLarge;
  if (!req.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return tooLarge;
      }
      parts.push(value);
    }
  } catch {
    return { status: 400, reason: "body_read", message: "the body could not be read" };
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** True for a Refusal (as opposed to a body or another value). */
export const isRefusal = (v: unknown): v is Refusal => typeof v === "object" && v !== null && "status" in v && "reason" in v && "message" in v;

/** The JSON answer of a refusal. */
export const refusalResponse = (r: Refusal, headers: Record<string, string> = {}): Response => Response.json({ error: r.message }, { status: r.status, headers });
