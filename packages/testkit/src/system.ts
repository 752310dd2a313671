import { TestNats } from "./nats-server.ts";
import { ServiceProcess } from "./process.ts";
import { TEST_JWT_SECRET } from "./tokens.ts";

/** Options for a whole system under test. */
export interface SystemOptions {
  gateways?: number;
  notifier?: boolean;
  metrics?: boolean;
  /** Extra env for every gateway. */
  gatewayEnv?: Record<string, string>;
  notifierEnv?: Record<string, string>;
  metricsEnv?: Record<string, string>;
}

/** A private nats-server plus services as child processes; `await using sys = await startSystem()`. */
export class TestSystem implements AsyncDisposable {
  private constructor(
    readonly nats: TestNats,
    readonly gateways: ServiceProcess[],
    readonly notifier: ServiceProcess | undefined,
    readonly metrics: ServiceProcess | undefined,
  ) {}

  static async start(opts: SystemOptions = {}): Promise<TestSystem> {
    const nats = await TestNats.start();
    const started: ServiceProcess[] = [];
    try {
      const base = { NATS_URL: nats.url, LOG_LEVEL: "warn" };
      // The notifier creates the stream, so it starts first.
      const notifier = opts.notifier ? await ServiceProcess.start("notifier", { ...base, ...opts.notifierEnv }) : undefined;
      if (notifier) started.push(notifier);
      const gateways = await Promise.all(
        Array.from({ length: opts.gateways ?? 1 }, () => ServiceProcess.start("gateway", { ...base, JWT_SECRET: TEST_JWT_SECRET, ...opts.gatewayEnv })),
      );
      started.push(...gateways);
      const metrics = opts.metrics ? await ServiceProcess.start("metrics", { ...base, INTERVAL_MS: "200", ...opts.metricsEnv }, { withPort: false }) : undefined;
      if (metrics) started.push(metrics);
      return new TestSystem(nats, gateways, notifier, metrics);
    } catch (err) {
      await Promise.all(started.map((s) => s[Symbol.asyncDispose]()));
      await nats[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** The i-th gateway. */
  gw(i: number): ServiceProcess {
    const g = this.gateways[i];
    if (!g) throw new Error(`no gateway ${i}`);
    return g;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const all = [...this.gateways, this.notifier, this.metrics].filter((s): s is ServiceProcess => s !== undefined);
    await Promise.all(all.map((s) => s[Symbol.asyncDispose]()));
    await this.nats[Symbol.asyncDispose]();
  }
}
