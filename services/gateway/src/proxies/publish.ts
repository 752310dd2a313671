import { PROXY_SUBJECTS, type proxy } from "@rt/protocol";
import type { ProxyCaller } from "./nats-request.ts";
import { answerData, type ProxyOutcome } from "./outcome.ts";
import { userFields, type ProxyConnection } from "./request-fields.ts";

/** A publication a backend accepted. */
export interface PublishGrant {
  /** What to publish instead of the client's data; undefined: the client's as it is (`"data": null` replaces it with null). */
  data: unknown;
  /** Delivered to the channel's subscribers, not kept in its history. */
  skipHistory: boolean;
}

/** The request body on `proxy.publish`. */
export function publishRequest(conn: ProxyConnection, channel: string, data: unknown): proxy.PublishRequest {
  return { ...userFields(conn), channel, data };
}

/** Asks whether `conn` may publish `data` into `channel` (of a namespace with `publish_proxy_enabled`), and what to publish. */
export function askPublish(caller: ProxyCaller, conn: ProxyConnection, channel: string, data: unknown): Promise<ProxyOutcome<PublishGrant>> {
  return caller.call("publish", PROXY_SUBJECTS.publish, publishRequest(conn, channel, data), (r) => ({
    data: answerData("/result/data", r.data, r.b64data),
    skipHistory: r.skip_history ?? false,
  }));
}
