import type { Logger, Metrics } from "@rt/runtime";
import type { ProxyConfig } from "../config.ts";
import { askConnect, proxyHeaders, type ConnectAsk, type ConnectGrant } from "./connect.ts";
import { ProxyCaller, type ProxyRequester } from "./nats-request.ts";
import type { ProxyOutcome } from "./outcome.ts";
import { ProxyMetrics } from "./proxy-metrics.ts";
import { askPublish, type PublishGrant } from "./publish.ts";
import { askRefresh, refreshDelay, type RefreshGrant } from "./refresh.ts";
import type { ProxyConnection } from "./request-fields.ts";
import { askRpc, type RpcGrant } from "./rpc.ts";
import { askSubRefresh } from "./sub-refresh.ts";
import { askSubscribe, type ProxySubscription } from "./subscribe.ts";

/** What a ProxyClient needs. */
export interface ProxyClientDeps {
  /** The gateway's Broker (its `request`: replies under REPLY_PREFIX.proxy). */
  requester: ProxyRequester;
  metrics: Metrics;
  /** A child logger (`module: "proxies"`). */
  log: Logger;
  config: ProxyConfig;
  /** At most one warning per kind and failure this often (default 5 s). */
  logEveryMs?: number;
}

/**
 * The decisions a gateway hands to backends over NATS (docs/proxy.md), one method per kind. Each
 * resolves (never rejects) within PROXY_TIMEOUT with what to do: the result, the error to reply
 * with, or the disconnect to close with. One per process: it registers its metrics.
 */
export class ProxyClient {
  private readonly caller: ProxyCaller;

  constructor(private readonly deps: ProxyClientDeps) {
    this.caller = new ProxyCaller(deps.requester, new ProxyMetrics(deps.metrics), deps.log, deps.config.timeoutMs, deps.logEveryMs);
  }

  /** PROXY_CONNECT=1: a connect without a token asks `connect`. */
  get connectEnabled(): boolean {
    return this.deps.config.connect;
  }

  /** PROXY_REFRESH=1: a connection whose connect grant has `expiresAt` asks `refresh` (at `refreshDelay`). */
  get refreshEnabled(): boolean {
    return this.deps.config.refresh;
  }

  /** The upgrade request's headers that `connect` will carry (PROXY_HTTP_HEADERS): take them at the upgrade. */
  headers(headers: Headers): Record<string, string> {
    return proxyHeaders(headers, this.deps.config.httpHeaders);
  }

  /** How long from now to wait before asking `refresh` or `subRefresh` about something expiring at `expiresAt` (ms). */
  refreshDelay(expiresAt: number, now = Date.now()): number {
    return refreshDelay(expiresAt, this.deps.config.timeoutMs, now);
  }

  /** `proxy.connect`: who a client connecting without a token is. */
  connect(ask: ConnectAsk): Promise<ProxyOutcome<ConnectGrant>> {
    return askConnect(this.caller, ask);
  }

  /** `proxy.refresh`: whether a connection about to expire lives on. */
  refresh(conn: ProxyConnection): Promise<ProxyOutcome<RefreshGrant>> {
    return askRefresh(this.caller, conn);
  }

  /** `proxy.subscribe`: whether `conn` may subscribe to `channel` (the policy said `proxy`), with the subscribe command's `data`. */
  subscribe(conn: ProxyConnection, channel: string, data?: unknown): Promise<ProxyOutcome<ProxySubscription>> {
    return askSubscribe(this.caller, conn, channel, data);
  }

  /** `proxy.publish`: whether `conn` may publish `data` into `channel` (the policy said `proxy`), and what to publish. */
  publish(conn: ProxyConnection, channel: string, data: unknown): Promise<ProxyOutcome<PublishGrant>> {
    return askPublish(this.caller, conn, channel, data);
  }

  /** `proxy.sub_refresh`: whether `conn`'s subscription to `channel` (about to expire) lives on. */
  subRefresh(conn: ProxyConnection, channel: string): Promise<ProxyOutcome<RefreshGrant>> {
    return askSubRefresh(this.caller, conn, channel);
  }

  /** `rpc.<method>`: the backend's answer to a client's `rpc` command. */
  rpc(conn: ProxyConnection, method: string, data?: unknown): Promise<ProxyOutcome<RpcGrant>> {
    return askRpc(this.caller, conn, method, data);
  }
}
