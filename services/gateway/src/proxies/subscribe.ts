import { PROXY_SUBJECTS, type SubscriptionOverride, type proxy } from "@rt/protocol";
import type { ProxyCaller } from "./nats-request.ts";
import { answerData, answerInfo, expiresAt, type AnswerInfo, type ProxyOutcome } from "./outcome.ts";
import { dataField, userFields, type ProxyConnection } from "./request-fields.ts";

/** A subscription a backend granted (`proxy.subscribe`, or one entry of a connect answer's `subs`). */
export interface ProxySubscription extends AnswerInfo {
  /** When it expires (ms since the epoch; undefined: never); with `sub_refresh_proxy_enabled` it is renewed through `proxy.sub_refresh` before. */
  expiresAt: number | undefined;
  /** For the client's subscribe result (its `data`); undefined: none. */
  data: unknown;
  /** Channel options replaced for this subscription (as a subscription token's `override`). */
  override: SubscriptionOverride | undefined;
}

const OVERRIDES = ["presence", "join_leave", "force_push_join_leave", "force_recovery", "force_positioning"] as const;

/** A subscription's options as a backend sent them (`path`: where, for the log) as the gateway uses them. */
export function proxySubscription(path: string, r: proxy.SubscribeResult | proxy.SubscribeOptions): ProxySubscription {
  let override: SubscriptionOverride | undefined;
  if (r.override) {
    override = {};
    for (const k of OVERRIDES) if (r.override[k] !== undefined) override[k] = r.override[k]!.value ?? false;
  }
  return { expiresAt: expiresAt(r.expire_at), ...answerInfo(path, r.info, r.b64info), data: answerData(`${path}/data`, r.data, r.b64data), override };
}

/** The request body on `proxy.subscribe`. */
export function subscribeRequest(conn: ProxyConnection, channel: string, data?: unknown): proxy.SubscribeRequest {
  return { ...userFields(conn), channel, ...dataField(data) };
}

/** Asks whether `conn` may subscribe to `channel` (of a namespace with `subscribe_proxy_enabled`), with the client's subscribe `data`. */
export function askSubscribe(caller: ProxyCaller, conn: ProxyConnection, channel: string, data?: unknown): Promise<ProxyOutcome<ProxySubscription>> {
  return caller.call("subscribe", PROXY_SUBJECTS.subscribe, subscribeRequest(conn, channel, data), (r) => proxySubscription("/result", r));
}
