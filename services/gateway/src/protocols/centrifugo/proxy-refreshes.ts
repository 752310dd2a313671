import { centrifugo } from "@rt/protocol";
import type { ProxyOutcome } from "../../proxies/outcome.ts";
import { REFRESH_RETRY_MS, type RefreshGrant } from "../../proxies/refresh.ts";
import type { ClientContext } from "./context.ts";
import { SUBSCRIPTION_EXPIRED, jsonInfo } from "./handlers.ts";

const { DisconnectCode } = centrifugo;

/** setTimeout's longest delay: a later refresh waits in steps of it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the refreshes act on: their session, and how it ends one of its subscriptions (with an unsubscribe push). */
type RefreshedSession = Pick<ClientContext, "d" | "state" | "subs" | "connInfo" | "proxyConnection" | "disconnect">;

/**
 * A connection's refreshes through its backend (docs/proxy.md): `proxy.refresh` before the expiry
 * its connect answer set (PROXY_REFRESH=1), `proxy.sub_refresh` before that of a subscription the
 * subscribe proxy granted (`sub_refresh_proxy_enabled`), each PROXY_TIMEOUT before it. An answer
 * without a decision (an error, a timeout, no backend) keeps it and asks again REFRESH_RETRY_MS
 * later, as Centrifugo does. One timer per thing waiting, all cleared when the connection closes.
 */
export class ProxyRefreshes {
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly s: RefreshedSession, private readonly endSubscription: (channel: string, why: { code: number; reason: string }) => void) {}

  /** The connection expires at `expiresAt`: asks `proxy.refresh` before (then closes 3005, renews, or asks again). */
  connection(expiresAt: number): void {
    this.before(expiresAt, async () => {
      const o = await this.s.d.proxies.refresh(this.s.proxyConnection());
      if (this.s.state !== "connected") return;
      if (o.kind === "result" && (o.result.info !== undefined || o.result.infoBytes !== undefined)) this.s.connInfo = jsonInfo(o.result);
      this.settle(o, (at) => this.connection(at), () => this.s.disconnect(DisconnectCode.Expired));
    });
  }

  /** `channel`'s open subscription expires at `expiresAt`: asks `proxy.sub_refresh` before (then ends it with 2501, renews it, or asks again). */
  subscription(channel: string, expiresAt: number): void {
    const sub = this.s.subs.open(channel);
    if (!sub) return;
    this.before(expiresAt, async () => {
      if (this.s.subs.open(channel) !== sub) return; // unsubscribed meanwhile
      const o = await this.s.d.proxies.subRefresh(this.s.proxyConnection(), channel);
      if (this.s.state !== "connected" || this.s.subs.open(channel) !== sub) return;
      // New channel info: in its publications from then on (presence keeps what it had at subscribe).
      if (o.kind === "result" && (o.result.info !== undefined || o.result.infoBytes !== undefined)) sub.info = jsonInfo(o.result);
      this.settle(o, (at) => {
        this.s.subs.renewed(sub, at);
        this.subscription(channel, at);
      }, () => this.endSubscription(channel, SUBSCRIPTION_EXPIRED), () => this.s.subs.renewed(sub, undefined));
    });
  }

  /** The connection closed: nothing more is asked. */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Runs `ask` once it is time to ask about something expiring at `expiresAt` (PROXY_TIMEOUT before), unless the connection is no longer connected. */
  private before(expiresAt: number, ask: () => Promise<void>): void {
    if (this.s.state === "closed") return;
    const delay = this.s.d.proxies.refreshDelay(expiresAt);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.s.state !== "connected") return;
      if (delay > MAX_TIMER_MS) return this.before(expiresAt, ask); // not yet: setTimeout waits at most ~24.8 days
      void ask();
    }, Math.min(delay, MAX_TIMER_MS));
    this.timers.add(timer);
  }

  /**
   * A refresh's answer: a new expiry (`renew`), expired (`expire`: also when the new expiry has
   * passed), a disconnect, or no decision: kept, asked again REFRESH_RETRY_MS later. `forever`: it
   * no longer expires.
   */
  private settle(o: ProxyOutcome<RefreshGrant>, renew: (at: number) => void, expire: () => void, forever: () => void = () => undefined): void {
    if (o.kind === "disconnect") return this.s.disconnect(o.disconnect, "proxy_disconnect");
    if (o.kind === "error") return renew(Date.now() + REFRESH_RETRY_MS);
    const g = o.result;
    if (g.expired || (g.expiresAt !== undefined && g.expiresAt <= Date.now())) return expire();
    if (g.expiresAt === undefined) return forever();
    renew(g.expiresAt);
  }
}
