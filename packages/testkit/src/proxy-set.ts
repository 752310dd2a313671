import { FaultProxy } from "./fault-proxy.ts";

/** What a test does to one service's link to NATS: a FaultProxy, or a FaultProxySet for a cluster. */
export interface NatsLink {
  /** The NATS URL (or comma-separated URLs) the service is given. */
  readonly url: string;
  /** Links open now. */
  readonly open: number;
  /** Connections accepted so far (refused ones included). */
  readonly accepted: number;
  /** True between `cut()` and `restore()`. */
  readonly cutOff: boolean;
  /** Closes every open link and refuses new ones until `restore()`. */
  cut(): void;
  /** Accepts links again. */
  restore(): void;
  /** Holds every chunk `ms` before passing it on (0: none), both ways or one. */
  delay(ms: number, direction?: "both" | "toUpstream" | "toClient"): void;
  /** What the service sent toward NATS since the last `mark()`, as text (shows a request is on its way). */
  readonly sentToUpstream: string;
  /** Starts `sentToUpstream` afresh. */
  mark(): void;
}

/**
 * One FaultProxy per node of a cluster, for one service: the service gets every proxy's URL (so
 * its client fails over between nodes as it would between the nodes themselves), and the test cuts,
 * restores or delays all of them at once: that service's whole link to the cluster. A node killed
 * behind its proxy refuses the proxy's upstream connection, so the service sees that node go too.
 */
export class FaultProxySet implements NatsLink, AsyncDisposable {
  private constructor(readonly proxies: FaultProxy[]) {}

  /** A proxy on a free port for each of `upstreamPorts`. */
  static async start(upstreamPorts: number[]): Promise<FaultProxySet> {
    const proxies: FaultProxy[] = [];
    try {
      for (const port of upstreamPorts) proxies.push(await FaultProxy.start(port));
    } catch (err) {
      await Promise.all(proxies.map((p) => p[Symbol.asyncDispose]()));
      throw err;
    }
    return new FaultProxySet(proxies);
  }

  get url(): string {
    return this.proxies.map((p) => p.url).join(",");
  }

  get open(): number {
    return this.proxies.reduce((n, p) => n + p.open, 0);
  }

  get accepted(): number {
    return this.proxies.reduce((n, p) => n + p.accepted, 0);
  }

  get cutOff(): boolean {
    return this.proxies.every((p) => p.cutOff);
  }

  get sentToUpstream(): string {
    return this.proxies.map((p) => p.sentToUpstream).join("");
  }

  mark(): void {
    for (const p of this.proxies) p.mark();
  }

  cut(): void {
    for (const p of this.proxies) p.cut();
  }

  restore(): void {
    for (const p of this.proxies) p.restore();
  }

  delay(ms: number, direction: "both" | "toUpstream" | "toClient" = "both"): void {
    for (const p of this.proxies) p.delay(ms, direction);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.proxies.map((p) => p[Symbol.asyncDispose]()));
  }
}
