import { PROXY_SUBJECTS, type proxy } from "@rt/protocol";
import type { ProxyCaller } from "./nats-request.ts";
import { answerInfo, expiresAt, type AnswerInfo, type ProxyOutcome } from "./outcome.ts";
import { userFields, type ProxyConnection } from "./request-fields.ts";

/** A backend's decision about a connection (or, for `proxy.sub_refresh`, a subscription) about to expire. */
export interface RefreshGrant extends AnswerInfo {
  /** True: it ends now (a connection closes with 3005, a subscription ends). */
  expired: boolean;
  /** Its new expiry (ms since the epoch); undefined: it no longer expires. */
  expiresAt: number | undefined;
}

/** After a refresh that got no decision (an error, a timeout, no backend): ask again this much later, keeping the connection or subscription meanwhile (as Centrifugo does). */
export const REFRESH_RETRY_MS = 5000;

/**
 * How long from `now` to wait before asking about something that expires at `expiresAt` (ms since
 * the epoch): until PROXY_TIMEOUT before it, so that the answer arrives in time; 0 when that is past.
 */
export const refreshDelay = (expiresAtMs: number, timeoutMs: number, now = Date.now()): number => Math.max(0, expiresAtMs - timeoutMs - now);

/** A refresh or sub_refresh result as the gateway uses it. */
export function refreshGrant(r: proxy.RefreshResult | proxy.SubRefreshResult): RefreshGrant {
  return { expired: r.expired ?? false, expiresAt: expiresAt(r.expire_at), ...answerInfo("/result", r.info, r.b64info) };
}

/** The request body on `proxy.refresh`. */
export function refreshRequest(conn: ProxyConnection): proxy.RefreshRequest {
  return userFields(conn);
}

/**
 * Asks whether `conn` (whose connect answer set `expire_at`; PROXY_REFRESH=1) lives on. A result
 * with `expired`: close 3005. An error or a failure: try again after REFRESH_RETRY_MS. A disconnect:
 * close with it.
 */
export function askRefresh(caller: ProxyCaller, conn: ProxyConnection): Promise<ProxyOutcome<RefreshGrant>> {
  return caller.call("refresh", PROXY_SUBJECTS.refresh, refreshRequest(conn), refreshGrant);
}
