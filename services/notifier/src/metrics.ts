import { NOTIFICATIONS_STREAM, isApiMethod, type ApiMethodName } from "@rt/protocol";
import { natsMetrics, type Metrics } from "@rt/runtime";

/** How a call reached the notifier. */
export type Transport = "http" | "nats";

/**
 * The `method` label of `rt_api_calls_total`: `notify` (one notification, `POST /notifications` or
 * `notifier.send`), `notify_batch` (an array of them, answered item by item), a server API method,
 * or `unknown` for a method the API does not have (so callers cannot add label values at will).
 */
export type CallMethod = "notify" | "notify_batch" | ApiMethodName | "unknown";

/** A server API method name as a label: itself when the API has it, else `unknown`. */
export const apiMethodLabel = (method: string): ApiMethodName | "unknown" => (isApiMethod(method) ? method : "unknown");

/** What the notifier counts, at the places where it happens. */
export interface NotifierMetrics {
  /** A notification stored in JetStream (a new one, not an idempotent repeat). */
  stored(): void;
  /** A send whose idempotency key matched a stored notification (the ack said `duplicate`): nothing new stored. */
  deduplicated(): void;
  /**
   * One call answered. `code`: over HTTP the response's status; over NATS, for `notify`/`notify_batch`
   * the HTTP status the same request gets over HTTP (errors carry it as `status`), for a server API
   * method the API error code of the reply, 0 for a result.
   */
  apiCall(method: CallMethod, code: number, transport: Transport): void;
  /** A NATS publish that failed: a live event, a room publication of the API, or a notification the stream did not take. */
  publishFailed(): void;
  /** Seconds from a notification's JetStream publish to the stream's ack. */
  storeDuration(seconds: number): void;
}

/** The notifier's metrics in `m` (Prometheus): `rt_notifications_*`, `rt_api_calls_total`, `rt_jetstream_store_duration_seconds`, `rt_nats_*`. */
export function notifierMetrics(m: Metrics, connected: () => boolean): NotifierMetrics {
  const { publishFailures } = natsMetrics(m, connected);
  const stored = m.counter("notifications_stored_total", "Notifications stored in JetStream (new ones, not idempotent repeats)");
  const deduplicated = m.counter("notifications_deduplicated_total", "Sends whose idempotency key matched a stored notification: nothing new stored");
  const calls = m.counter("api_calls_total", "Calls answered: notify, notify_batch or a server API method (unknown otherwise), by code and transport", ["method", "code", "transport"]);
  const storeSeconds = m.histogram("jetstream_store_duration_seconds", "Seconds from a JetStream publish to its ack", ["stream"]).labels({ stream: NOTIFICATIONS_STREAM });
  return {
    stored: () => stored.inc(),
    deduplicated: () => deduplicated.inc(),
    apiCall: (method, code, transport) => calls.inc({ method, code: String(code), transport }),
    publishFailed: () => publishFailures.inc(),
    storeDuration: (seconds) => storeSeconds.observe(seconds),
  };
}
