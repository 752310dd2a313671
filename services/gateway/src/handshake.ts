/**
 * True when `req` is a WebSocket opening handshake this gateway takes (RFC 6455 4.2.1): GET,
 * `Upgrade: websocket`, `Connection: upgrade`, a 16-byte `Sec-WebSocket-Key` and version 13.
 * Anything else gets the documented 400 (docs/websocket.md) before Bun would answer it (426 for another version).
 */
export function isWebSocketHandshake(req: Request): boolean {
  const h = req.headers;
  return (
    req.method === "GET" &&
    (h.get("upgrade")?.toLowerCase() ?? "").split(",").some((v) => v.trim() === "websocket") &&
    (h.get("connection")?.toLowerCase() ?? "").split(",").some((v) => v.trim() === "upgrade") &&
    h.get("sec-websocket-version") === "13" &&
    /^[A-Za-z0-9+/]{22}==$/.test(h.get("sec-websocket-key") ?? "")
  );
}
