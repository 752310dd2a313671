import { ConfigError, loadConfigOrExit } from "./env.ts";

/**
 * Starts a service's server with `listen`. A port another process holds (EADDRINUSE) stops the
 * service as a bad PORT does, with one line naming PORT and exit 2: a service never joins another
 * process on its port silently. `reusable`: the service reads REUSE_PORT, with which processes
 * that all set it share a port on purpose (named in the message).
 */
export function listenOrExit<T>(service: string, port: number, listen: () => T, reusable = true): T {
  return loadConfigOrExit(service, () => {
    try {
      return listen();
    } catch (err) {
      if ((err as { code?: unknown }).code !== "EADDRINUSE") throw err;
      const share = reusable ? ` (several ${service} processes share one only when each has REUSE_PORT=1)` : "";
      throw new ConfigError("PORT", `${port} is already in use by another process: stop it or set another PORT${share}`);
    }
  });
}

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
