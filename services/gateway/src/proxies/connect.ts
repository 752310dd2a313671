import { PROXY_SUBJECTS, type proxy } from "@rt/protocol";
import type { ProxyCaller } from "./nats-request.ts";
import { answerData, answerInfo, expiresAt, type AnswerInfo, type ProxyOutcome } from "./outcome.ts";
import { connectionFields, dataField, type ProxyConnection } from "./request-fields.ts";
import { proxySubscription, type ProxySubscription } from "./subscribe.ts";

/** What the gateway knows of a connection that connects without a token (PROXY_CONNECT=1). */
export interface ConnectAsk extends Pick<ProxyConnection, "client" | "transport" | "protocol"> {
  /** The connect command's `name` and `version` (the SDK's), when sent. */
  name?: string | undefined;
  version?: string | undefined;
  /** The connect command's `data`, when sent. */
  data?: unknown;
  /** The upgrade request's headers named in PROXY_HTTP_HEADERS (`proxyHeaders`, taken at the upgrade). */
  headers: Record<string, string>;
  /** The client's address (the peer's: a proxy's, behind one; "" when unknown). */
  remoteAddr: string;
}

/** Who a backend says the client is. */
export interface ConnectGrant extends AnswerInfo {
  /** The user ("" an anonymous connection). */
  user: string;
  /** When the connection expires (ms since the epoch; undefined: never). With PROXY_REFRESH=1 it is refreshed through `proxy.refresh` before; without, it is closed with 3005 then. */
  expiresAt: number | undefined;
  /** For the client's connect result (its `data`); undefined: none. */
  data: unknown;
  /** Server-side subscriptions, in the answer's order: `channels` (default options), then `subs` (each with its options; a channel in both takes these). */
  subs: Map<string, ProxySubscription>;
  /** Kept with the connection and sent back in each of its later proxy requests (never to the client). */
  meta: Record<string, unknown> | undefined;
}

const NO_OPTIONS: ProxySubscription = Object.freeze({ expiresAt: undefined, info: undefined, infoBytes: undefined, data: undefined, override: undefined });

/**
 * The headers of an upgrade request that `proxy.connect` carries: those named in `names`
 * (PROXY_HTTP_HEADERS, lower case) that the request has, by lower-case name. Take them at the
 * upgrade and keep them with the connection until its connect.
 */
export function proxyHeaders(headers: Headers, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) out[name] = value;
  }
  return out;
}

/** The request body on `proxy.connect`. */
export function connectRequest(ask: ConnectAsk): proxy.ConnectRequest {
  return {
    ...connectionFields(ask),
    ...(ask.name ? { name: ask.name } : {}),
    ...(ask.version ? { version: ask.version } : {}),
    ...dataField(ask.data),
    headers: ask.headers,
    remote_addr: ask.remoteAddr,
  };
}

/** A connect result as the gateway uses it. */
export function connectGrant(r: proxy.ConnectResult): ConnectGrant {
  const subs = new Map<string, ProxySubscription>();
  for (const channel of r.channels ?? []) subs.set(channel, NO_OPTIONS);
  for (const [channel, options] of Object.entries(r.subs ?? {})) subs.set(channel, proxySubscription(`/result/subs/${channel.replaceAll("~", "~0").replaceAll("/", "~1")}`, options));
  return {
    user: r.user,
    expiresAt: expiresAt(r.expire_at),
    ...answerInfo("/result", r.info, r.b64info),
    data: answerData("/result/data", r.data, r.b64data),
    subs,
    meta: r.meta,
  };
}

/**
 * Asks a backend who a client connecting without a token is (PROXY_CONNECT=1). A result: the
 * connection is the grant's user. An error: the connect's error reply (temporary: the SDK
 * reconnects; otherwise it stops). A disconnect: close with it.
 */
export function askConnect(caller: ProxyCaller, ask: ConnectAsk): Promise<ProxyOutcome<ConnectGrant>> {
  return caller.call("connect", PROXY_SUBJECTS.connect, connectRequest(ask), connectGrant);
}
