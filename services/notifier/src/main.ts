import { ChannelPolicy, INBOX_PREFIX, REPLY_PREFIX } from "@rt/protocol";
import { Metrics, ReplyGuard, RequestMux, connectNats, createLogger, exitOnNatsFailure, listenOrExit, loadConfigOrExit, onShutdown, type ServiceNats } from "@rt/runtime";
import { ApiDispatcher, apiError } from "./api/dispatcher.ts";
import { ApiResponder } from "./api/nats-responder.ts";
import { AnswerRecords } from "./answers.ts";
import { ChannelPublisher } from "./api/channel-publisher.ts";
import { HistoryRemover } from "./api/history-remover.ts";
import { bearerAuthorizer } from "./auth.ts";
import { loadConfig } from "./config.ts";
import { startHttp } from "./http.ts";
import { notifierMetrics } from "./metrics.ts";
import { NatsApi } from "./nats-api.ts";
import { unavailable } from "./outcome.ts";
import { Publisher } from "./publish.ts";
import { NotificationStore } from "./store.ts";

const config = loadConfigOrExit("notifier", () => loadConfig());
const log = createLogger("notifier", config.logLevel);
const auth = bearerAuthorizer(config.tokens);
if (!auth.enforced) log.warn("NOTIFIER_TOKENS is not set: anyone who can reach the HTTP port may send notifications");

let nats: ServiceNats | undefined;
const registry = new Metrics();
const metrics = notifierMetrics(registry, () => nats?.connected() ?? false);
const replies = new ReplyGuard(registry, log.child({ module: "replies" }), ["notifier.send", "api"]);

// HTTP first, so /healthz answers (and /readyz says 503) while NATS is still out of reach.
let publisher: Publisher | undefined;
let dispatcher: ApiDispatcher | undefined;
const server = listenOrExit("notifier", config.port, () => startHttp({
  host: config.host,
  port: config.port,
  reusePort: config.reusePort,
  log: log.child({ module: "http" }),
  auth,
  ready: () => publisher?.ready() ?? false,
  send: (req) => publisher?.send(req) ?? Promise.resolve(unavailable("not connected to NATS yet; retry shortly")),
  api: (method, body) => dispatcher?.call(method, body) ?? Promise.resolve(apiError(100, "not connected to NATS yet; retry shortly")),
  metrics,
  scrape: () => registry.response(),
}));
log.info({ url: server.url.href }, "http listening");

let store: NotificationStore | undefined;
let answers: AnswerRecords | undefined;
let api: NatsApi | undefined;
let apiResponder: ApiResponder | undefined;
onShutdown(log, async () => {
  await Promise.race([server.stop(), Bun.sleep(3000)]);
  void server.stop(true);
  store?.close();
  answers?.close();
  await api?.stop();
  await apiResponder?.stop();
  if (nats?.connected()) await nats.nc.drain();
  else await nats?.nc.close();
});

nats = await connectNats({ ...config.natsAuth, servers: config.natsUrl, name: "notifier", inboxPrefix: INBOX_PREFIX.notifier, logger: log.child({ module: "nats" }) }).catch((err: unknown) => exitOnNatsFailure("notifier", log, err));
nats.onFailed((err) => exitOnNatsFailure("notifier", log, err));
store = new NotificationStore(nats.nc, { maxAgeMs: config.maxAgeMs, maxPerUser: config.maxPerUser, maxBytes: config.maxBytes, dedupWindowMs: config.dedupWindowMs, replicas: config.replicas }, log.child({ module: "store" }), metrics);
answers = new AnswerRecords(nats.nc, { windowMs: config.dedupWindowMs, replicas: config.replicas }, log.child({ module: "answers" }));
const pub = new Publisher({ nc: nats.nc, connected: nats.connected, store, answers, log: log.child({ module: "publish" }), metrics });
nats.onReconnect(() => {
  void store?.ensureStream();
  void answers?.ensureStream();
});
api = new NatsApi(nats.nc, (req) => pub.send(req), log.child({ module: "nats-api" }), metrics, replies);
const channels = new ChannelPublisher(nats.nc, nats.connected, INBOX_PREFIX.notifier, config.channels, log.child({ module: "channels" }), metrics);
dispatcher = new ApiDispatcher(new RequestMux(nats.nc, REPLY_PREFIX.gatewayApi), channels, new HistoryRemover(nats.nc), new ChannelPolicy(config.channels), config.maxMessageBytes, log.child({ module: "api" }));
apiResponder = new ApiResponder(nats.nc, dispatcher, log.child({ module: "api" }), metrics, replies);
apiResponder.start();
// The first-answers stream is not waited for: without it a repeat that waited for delivery is told `delivered: false`.
void answers.ensureStream();
await store.ensureStream();
api.start();
// Ready (/readyz reads `publisher`) only once the server has the subscriptions: a `notifier.send` request right after a 200 finds one.
await nats.nc.flush().catch(() => undefined); // disconnected meanwhile: they are sent again on reconnect, and /readyz says 503 until then
publisher = pub;
