/** A JSON response with the given status. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/** Answers `/healthz` (alive) and `/readyz` (connected to NATS); undefined for any other path. */
export function healthRoute(path: string, ready: () => boolean): Response | undefined {
  if (path === "/healthz") return json(200, { status: "ok" });
  if (path === "/readyz") return ready() ? json(200, { status: "ready" }) : json(503, { status: "not ready", reason: "nats disconnected" });
  return undefined;
}
