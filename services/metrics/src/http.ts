import { healthRoute, json } from "@rt/runtime";

/** What the HTTP endpoints need from the rest of the service. */
export interface HttpDeps {
  /** True while NATS is connected (`/readyz`). */
  ready: () => boolean;
  /** The Prometheus text of every metric (`GET /metrics`). */
  scrape: () => Promise<Response>;
}

/** `GET /healthz`, `GET /readyz` and `GET /metrics` (405 for another method); 404 elsewhere. */
export async function route(req: Request, deps: HttpDeps): Promise<Response> {
  const path = new URL(req.url).pathname;
  if (path === "/metrics") return req.method === "GET" ? deps.scrape() : json(405, { error: "method not allowed" }, { allow: "GET" });
  return healthRoute(path, deps.ready) ?? json(404, { error: "not found" });
}
