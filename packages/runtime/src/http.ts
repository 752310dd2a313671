/** A JSON response with the given status. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/**
 * Answers `/healthz` (alive, from the moment the process starts) and `/readyz` (`ready()` is true;
 * false or a string, the reason, is 503); undefined for any other path.
 */
export function healthRoute(path: string, ready: () => boolean | string): Response | undefined {
  if (path === "/healthz") return json(200, { status: "ok" });
  if (path !== "/readyz") return undefined;
  const r = ready();
  return r === true ? json(200, { status: "ready" }) : json(503, { status: "not ready", reason: r === false ? "nats disconnected" : r });
}
