import { FaultProxy } from "./fault-proxy.ts";
import { TestCluster } from "./nats-cluster.ts";
import { FaultProxySet, type NatsLink } from "./proxy-set.ts";
import { TestNats } from "./nats-server.ts";
import { ServiceProcess } from "./process.ts";
import { TEST_JWT_SECRET } from "./tokens.ts";

/** Options for a whole system under test. */
export interface SystemOptions {
  gateways?: number;
  notifier?: boolean;
  metrics?: boolean;
  /** Give each gateway and the notifier its own FaultProxy to NATS (on a cluster: one per node, a FaultProxySet). */
  proxied?: boolean;
  /** Run on a 3-node TestCluster with JETSTREAM_REPLICAS=3 instead of one nats-server. */
  cluster?: boolean;
  /** Extra env for every gateway. */
  gatewayEnv?: Record<string, string>;
  notifierEnv?: Record<string, string>;
  metricsEnv?: Record<string, string>;
}

/** A private nats-server (or cluster) plus services as child processes; `await using sys = await TestSystem.start()`. */
export class TestSystem implements AsyncDisposable {
  private constructor(
    /** The single server; throws on a cluster system (use `cluster`). */
    private readonly server: TestNats | undefined,
    readonly cluster: TestCluster | undefined,
    readonly gateways: ServiceProcess[],
    readonly notifier: ServiceProcess | undefined,
    readonly metrics: ServiceProcess | undefined,
    private readonly proxies: Map<ServiceProcess, NatsLink & AsyncDisposable>,
    /** The environment each service was started with (to start it again). */
    private readonly envs: Map<ServiceProcess, Record<string, string>>,
  ) {}

  static async start(opts: SystemOptions = {}): Promise<TestSystem> {
    const server = opts.cluster ? undefined : await TestNats.start();
    const cluster = opts.cluster ? await TestCluster.start() : undefined;
    const url = server?.url ?? cluster!.url;
    const proxies = new Map<ServiceProcess, NatsLink & AsyncDisposable>();
    const started: ServiceProcess[] = [];
    const envs = new Map<ServiceProcess, Record<string, string>>();
    const opened: Array<NatsLink & AsyncDisposable> = [];
    /** The NATS URL for one more service, through a new proxy (a proxy per node on a cluster) when proxied. */
    const natsFor = async (): Promise<{ url: string; proxy?: NatsLink & AsyncDisposable }> => {
      if (!opts.proxied) return { url };
      const proxy = server ? await FaultProxy.start(server.port) : await FaultProxySet.start(cluster!.nodes.map((n) => n.port));
      opened.push(proxy);
      return { url: proxy.url, proxy };
    };
    const start = async (name: "gateway" | "notifier" | "metrics", env: Record<string, string>, withPort = true) => {
      const n = await natsFor();
      const base = { NATS_URL: n.url, LOG_LEVEL: "warn", ...(cluster ? { JETSTREAM_REPLICAS: "3" } : {}) };
      const svc = await ServiceProcess.start(name, { ...base, ...env }, { withPort });
      started.push(svc);
      envs.set(svc, { ...base, ...env });
      if (n.proxy) proxies.set(svc, n.proxy);
      return svc;
    };
    try {
      // The notifier creates the stream, so it starts first.
      const notifier = opts.notifier ? await start("notifier", { ...opts.notifierEnv }) : undefined;
      const gateways = await Promise.all(
        Array.from({ length: opts.gateways ?? 1 }, () => start("gateway", { JWT_SECRET: TEST_JWT_SECRET, ...opts.gatewayEnv })),
      );
      const metrics = opts.metrics ? await start("metrics", { INTERVAL_MS: "200", ...opts.metricsEnv }, false) : undefined;
      return new TestSystem(server, cluster, gateways, notifier, metrics, proxies, envs);
    } catch (err) {
      await Promise.all(started.map((s) => s[Symbol.asyncDispose]()));
      await Promise.all(opened.map((p) => p[Symbol.asyncDispose]()));
      await (server ?? cluster)?.[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** The single nats-server. */
  get nats(): TestNats {
    if (!this.server) throw new Error("this system runs on a cluster");
    return this.server;
  }

  /** A URL for the test's own NATS connections (every node on a cluster). */
  get natsUrl(): string {
    return this.server?.url ?? this.cluster!.url;
  }

  /** The i-th gateway. */
  gw(i: number): ServiceProcess {
    const g = this.gateways[i];
    if (!g) throw new Error(`no gateway ${i}`);
    return g;
  }

  /**
   * Stops the i-th gateway with `signal` and starts it again on the same port with the same
   * environment (its NATS link keeps its proxy, if any); resolves once the new one is ready.
   */
  async restartGateway(i: number, signal: NodeJS.Signals = "SIGTERM", downMs = 0): Promise<ServiceProcess> {
    const old = this.gw(i);
    const env = this.envs.get(old)!;
    await old.stop(signal);
    if (downMs > 0) await Bun.sleep(downMs);
    // In the system before it is ready, so that disposing (or killNow) meanwhile stops it too.
    const svc = await ServiceProcess.start("gateway", { ...env, PORT: String(old.port) }, { waitReady: false });
    this.gateways[i] = svc;
    this.envs.set(svc, env);
    const proxy = this.proxies.get(old);
    if (proxy) this.proxies.set(svc, proxy);
    await svc.ready();
    return svc;
  }

  /** The link between `svc` and NATS, to cut or delay (systems started with `proxied`): a FaultProxy, a FaultProxySet on a cluster. */
  proxy(svc: ServiceProcess | undefined): NatsLink {
    const p = svc && this.proxies.get(svc);
    if (!p) throw new Error("that service has no proxy (start the system with proxied: true)");
    return p;
  }

  /** Kills every process at once, synchronously (for an `exit` handler after a crash; the proxies end with this process). */
  killNow(): void {
    for (const s of [...this.gateways, this.notifier, this.metrics]) s?.killNow();
    this.server?.killNow();
    this.cluster?.killNow();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const all = [...this.gateways, this.notifier, this.metrics].filter((s): s is ServiceProcess => s !== undefined);
    await Promise.all(all.map((s) => s[Symbol.asyncDispose]()));
    await Promise.all([...this.proxies.values()].map((p) => p[Symbol.asyncDispose]()));
    await (this.server ?? this.cluster)?.[Symbol.asyncDispose]();
  }
}
