import { PROXY_SUBJECTS, type proxy } from "@rt/protocol";
import type { ProxyCaller } from "./nats-request.ts";
import type { ProxyOutcome } from "./outcome.ts";
import { refreshGrant, type RefreshGrant } from "./refresh.ts";
import { userFields, type ProxyConnection } from "./request-fields.ts";

/** The request body on `proxy.sub_refresh`. */
export function subRefreshRequest(conn: ProxyConnection, channel: string): proxy.SubRefreshRequest {
  return { ...userFields(conn), channel };
}

/**
 * Asks whether `conn`'s subscription to `channel` (whose subscribe answer set `expire_at`, in a
 * namespace with `sub_refresh_proxy_enabled`) lives on. A result with `expired`: end it with the
 * push `unsubscribe` 2501 `subscription expired` (as Centrifugo: the SDK subscribes again, which asks
 * `proxy.subscribe`); an error or a failure: try again after REFRESH_RETRY_MS, keeping it; a
 * disconnect: close the connection with it.
 */
export function askSubRefresh(caller: ProxyCaller, conn: ProxyConnection, channel: string): Promise<ProxyOutcome<RefreshGrant>> {
  return caller.call("sub_refresh", PROXY_SUBJECTS.sub_refresh, subRefreshRequest(conn, channel), refreshGrant);
}
