import type { ClientInfo } from "centrifuge";

/**
 * Who a publication or a presence entry is: its client's user; "guest (/chat/)" for a client
 * without one (a `/chat/` socket); "server" for a publication without client info, which only the
 * server API makes (`POST /api/publish`, `api.publish`: docs/server-api.md).
 */
export function authorOf(info: ClientInfo | undefined): string {
  if (info === undefined) return "server";
  return info.user ? info.user : "guest (/chat/)";
}
