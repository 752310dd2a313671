import { INBOX_PREFIX, metricsSubject } from "@rt/protocol";
import { Metrics, connectNats, createLogger, exitOnNatsFailure, listenOrExit, loadConfigOrExit, onShutdown, type ServiceNats } from "@rt/runtime";
import { loadConfig } from "./config.ts";
import { route } from "./http.ts";
import { sampleMetrics } from "./metrics.ts";
import { NatsPublisher, type Publisher } from "./publisher.ts";
import { Sampler } from "./sampler.ts";
import { startTicker, type Ticker } from "./ticker.ts";
import { Throttle } from "./throttle.ts";

const config = loadConfigOrExit("metrics", () => loadConfig());
const log = createLogger("metrics", config.logLevel);
log.info({ host: config.hostId, subject: metricsSubject(config.hostId), intervalMs: config.intervalMs }, "starting");

let nats: ServiceNats | undefined;
let publisher: Publisher | undefined;
let ticker: Ticker | undefined;
const registry = new Metrics();
const metrics = sampleMetrics(registry, () => nats?.connected() ?? false);

// Up before NATS so /healthz answers (and /readyz says 503) while the first connect is pending.
const port = config.port;
const server = port === undefined ? undefined : listenOrExit("metrics", port, () => Bun.serve({
  port,
  fetch: (req) => route(req, { ready: () => nats?.connected() ?? false, scrape: () => registry.response() }),
}), false);
if (server) log.info({ port: server.port }, "health and metrics endpoints listening");

onShutdown(log, async () => {
  await ticker?.stop();
  await server?.stop(true);
  await publisher?.close();
});

nats = await connectNats({ ...config.natsAuth, servers: config.natsUrl, name: "metrics", inboxPrefix: INBOX_PREFIX.metrics, logger: log.child({ module: "nats" }) }).catch((err: unknown) => exitOnNatsFailure("metrics", log, err));
nats.onFailed((err) => exitOnNatsFailure("metrics", log, err));
log.info("nats connected");
const sampler = new Sampler({ hostId: config.hostId, intervalMs: config.intervalMs, onSampled: metrics.sampled });
const pub = new NatsPublisher(nats, config.hostId, log.child({ module: "publisher" }), metrics);
publisher = pub;
const tickErrors = new Throttle(30_000);
ticker = startTicker(config.intervalMs, async () => void pub.publish(await sampler.sample()), (err) => {
  const skipped = tickErrors.take();
  if (skipped !== undefined) log.error({ err, skipped }, "sample failed");
});
