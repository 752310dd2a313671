import { CHAT_NAMESPACE, centrifugo, ChannelPolicy, INBOX_PREFIX, NOTIFICATIONS_STREAM, hasHistory, roomMaxMessageSize, streamOfStoreSubject } from "@rt/protocol";
import { Metrics, ReplyGuard, createLogger, exitOnNatsFailure, listenOrExit, loadConfigOrExit, natsMetrics, onShutdown } from "@rt/runtime";
import { JwtAuthenticator } from "./auth.ts";
import { NatsBroker } from "./broker/nats-broker.ts";
import { Outbox } from "./broker/outbox.ts";
import { StreamPublisher } from "./broker/stream-publisher.ts";
import { ChannelStore } from "./channels/channel-store.ts";
import type { ChannelHub } from "./channels/hub.ts";
import { Inbox } from "./channels/inbox.ts";
import { JetStreamNotificationStore } from "./channels/inbox-store.ts";
import { LiveHub } from "./channels/live-hub.ts";
import { MonitorRelay } from "./channels/monitor.ts";
import { StreamEpoch } from "./channels/stream-epoch.ts";
import { StreamHub } from "./channels/stream-hub.ts";
import { dedupWindowMs, namespaceStreamOf, roomsStream, type ChannelStream } from "./channels/streams.ts";
import { checkMaxPayload, loadGatewayConfig } from "./config.ts";
import type { Adapters } from "./protocols/adapter.ts";
import { centrifugoAdapter } from "./protocols/centrifugo/adapter.ts";
import type { ClientDeps } from "./protocols/centrifugo/context.ts";
import { JsonCodec } from "./protocols/centrifugo/codec-json.ts";
import { Session } from "./protocols/centrifugo/session.ts";
import { ProtobufCodec, protobufPushes } from "./protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes } from "./protocols/centrifugo/push.ts";
import { echoAdapter } from "./protocols/echo.ts";
import { legacyMonitorAdapter } from "./protocols/legacy-monitor.ts";
import { legacyNotificationsAdapter } from "./protocols/legacy-notifications.ts";
import { legacyRoomAdapter } from "./protocols/legacy-room.ts";
import { hostname } from "node:os";
import { GatewayApi } from "./api/gateway-api.ts";
import { GatewayRegistry } from "./cluster/gateways.ts";
import { Presence } from "./presence/presence.ts";
import { demoRoute } from "./demo/demo-routes.ts";
import { GatewayMetrics } from "./metrics.ts";
import { Node } from "./node/node.ts";
import { ProxyClient } from "./proxies/proxy-client.ts";
import { Rejections } from "./rejections.ts";
import { adapterOf, startServer } from "./server.ts";
import { JwtSubscriptionTokens } from "./subscription-token.ts";
import { CreateLimit } from "./sessions/create-limit.ts";
import { EmulationRouter, type EmulatedSession } from "./transports/emulation.ts";
import { StreamEndpoints } from "./transports/endpoints.ts";
import type { TransportName } from "./transports/transport.ts";
import { Hub } from "./transports/hub.ts";
import { OpenStreams } from "./transports/open-streams.ts";
import { SessionSecrets } from "./transports/session-secrets.ts";
import type { EncodingName } from "./protocols/centrifugo/push.ts";
import { SocketIndex } from "./sessions/socket-index.ts";
import { Sweeper } from "./sessions/sweeper.ts";

const VERSION = "rt-gateway 0.3";
/** An expired subscription is unsubscribed (2501) once it has gone this long without `sub_refresh` (the SDKs renew right at the expiry). */
const SUBSCRIPTION_EXPIRY_GRACE_MS = 5000;

const config = loadConfigOrExit("gateway", () => loadGatewayConfig());
const log = createLogger("gateway", config.logLevel);
if (config.allowInsecureUserId) log.warn("ALLOW_INSECURE_USER_ID is on: /notifications accepts ?user_id= without a token (development only)");
if (config.protocol.allowAnonymous) log.warn("ALLOW_ANONYMOUS is on: /connection/websocket accepts a connect without a token (development only)");
if (!config.allowedOrigins) log.warn("ALLOWED_ORIGINS is unset: browsers from any origin may connect");

const metrics = new Metrics();
const rejections = new Rejections(metrics);
const replies = new ReplyGuard(metrics, log.child({ module: "replies" }), ["gateway.api", "gateway.control", "presence.query", "gateway.emulation"]);
const broker = new NatsBroker(log.child({ module: "nats" }), INBOX_PREFIX.gateway);
const counters = new GatewayMetrics(metrics, natsMetrics(metrics, () => broker.connected()).publishFailures);
const limits = { backpressureBytes: config.backpressureLimitBytes };
let server: ReturnType<typeof startServer> | undefined;
const getServer = () => server!;
// Local fan-out for every transport: Bun topics for WebSockets, sink sets for HTTP streams (each frame serialized once per channel and encoding).
const transportHub = new Hub(() => server);
const toHub = () => transportHub;
const published = (bytes: number) => sweeper.published(bytes);

// The outbox of room publications, confirmed by the ROOMS stream.
const outboxDropped = metrics.counter("room_outbox_dropped_total", "Room publishes given up before the stream confirmed them", ["reason"]);
const repeats = metrics.counter("room_repeats_dropped_total", "Room publishes sent again (after a reconnect or a lost confirmation) that the stream had stored already");
const outbox = new Outbox(config.outbox, (reason, n) => {
  outboxDropped.inc({ reason }, n);
  rejections.count(`room_outbox_${reason}`, log, { dropped: n });
});
const publisher = new StreamPublisher(broker, outbox, {
  onRepeat: () => repeats.inc(),
  onError: (err) => {
    counters.publishFailed();
    rejections.count("nats_publish_failed", log, { err: String(err) });
  },
  onStored: (ms, subject) => counters.stored(streamOfStoreSubject(subject) ?? "ROOMS", ms / 1000),
});

// Channels: every namespace (a stream's for those with history, core NATS for the others), inboxes, the monitor.
const encodings = [jsonPushes, protobufPushes];
const policy = new ChannelPolicy(config.channels);
const createLimit = new CreateLimit(config.channelCreate.perMin, config.channelCreate.burst);
const maxMsgSize = roomMaxMessageSize(config.maxMessageBytes);
const chat = config.channels.get(CHAT_NAMESPACE)!;
const streams: ChannelStream[] = [
  // `chat` keeps the ROOMS stream and its subjects; its history is the file's when the file defines `chat`.
  roomsStream({ size: chat.options.history_size, ttlMs: chat.options.history_ttl_ms, maxBytes: config.roomHistory.maxBytes, maxMsgSize, replicas: config.replicas, dedupWindowMs: dedupWindowMs(config.outbox.maxAgeMs) }),
  ...config.channels.all().filter((ns) => ns.name !== CHAT_NAMESPACE && hasHistory(ns.options)).map((ns) => namespaceStreamOf(ns, { maxBytes: config.namespaceMaxBytes, maxMsgSize, replicas: config.replicas, dedupWindowMs: dedupWindowMs(config.outbox.maxAgeMs) })),
];
const live = new LiveHub(toHub, broker, encodings, config.maxMessageBytes, rejections, log.child({ module: "live" }), published, counters);
const hubs = new Map<string, ChannelHub>();
const stores: ChannelStore[] = [];
const streamEpochs: StreamEpoch[] = [];
for (const stream of streams) {
  const rooms = stream.namespace === CHAT_NAMESPACE;
  const prefix = rooms ? "rooms" : `ns-${stream.namespace}`;
  const epoch = new StreamEpoch(stream.name, broker, log.child({ module: `${prefix}-epoch` }), "the gateways create it when they connect to NATS");
  const store = new ChannelStore(broker, stream, log.child({ module: `${prefix}-store` }), (seq) => rejections.count("stored_publication_invalid", log, { seq, stream: stream.name }));
  hubs.set(stream.namespace, new StreamHub(toHub, broker, store, epoch, publisher, encodings, config.maxMessageBytes, rejections, log.child({ module: rooms ? "rooms" : `ns-${stream.namespace}` }), published, createLimit, counters));
  stores.push(store);
  streamEpochs.push(epoch);
}
for (const ns of config.channels.all()) if (!hubs.has(ns.name)) hubs.set(ns.name, live);
const inboxEpoch = new StreamEpoch(NOTIFICATIONS_STREAM, broker, log.child({ module: "epoch" }), "the notifier creates it: is it running?");
const inboxStore = new JetStreamNotificationStore(broker, (seq) => rejections.count("stored_notification_invalid", log, { seq }));
const inbox = new Inbox(broker, inboxStore, inboxEpoch, rejections, log.child({ module: "notifications" }), config.backpressureLimitBytes, counters);
const gateways = new GatewayRegistry(publisher.origin, broker, log.child({ module: "gateways" }), () => rejections.count("nats_heartbeat_payload", log), config.cluster);
const presence = new Presence(toHub, broker, gateways, encodings, rejections, replies, log.child({ module: "presence" }), published);
const monitor = new MonitorRelay(toHub, broker, encodings, rejections, log.child({ module: "monitor" }), published, counters);

// Connections on HTTP responses (HTTP-streaming, SSE), and the emulation secrets of their sessions.
const openStreams = new OpenStreams();
const sessionSecrets = new SessionSecrets<EmulatedSession>();

// The one gateway API every entry point calls.
const sockets = new SocketIndex();
const node = new Node({
  policy, hubs, inbox, inboxStore, inboxEpoch, monitor, presence, sockets, server: () => ({ subscriberCount: (topic: string) => getServer().subscriberCount(topic) + transportHub.othersCount(topic) }), encodings, inboxHistorySize: config.roomHistory.size, maxMessageBytes: config.maxMessageBytes,
  reject: (reason, fields) => rejections.count(reason, log, fields),
});

// Protocols: the article's four endpoints and the client protocol.
const auth = new JwtAuthenticator(config.jwt, config.allowInsecureUserId);
// One set of client dependencies per encoding (the same Node and per-user counts).
const proxies = new ProxyClient({ requester: broker, metrics, log: log.child({ module: "proxies" }), config: config.proxy });
const jsonDeps: ClientDeps = {
  auth, subscriptionTokens: new JwtSubscriptionTokens(config.jwt, auth.jwks), node, proxies, codec: new JsonCodec(), rejections, counters, log: log.child({ module: "client" }), perUser: new Map(), sockets,
  config: { ...config.protocol, rateLimitPerSec: config.rateLimitPerSec, rateLimitBurst: config.rateLimitBurst, maxChannels: 128, version: VERSION, subscriptionExpiryGraceMs: SUBSCRIPTION_EXPIRY_GRACE_MS, backpressureLimitBytes: config.backpressureLimitBytes },
  emulation: { node: publisher.origin, sessions: sessionSecrets },
};
const protobufDeps: ClientDeps = { ...jsonDeps, codec: new ProtobufCodec() };
const adapters: Adapters = {
  echo: echoAdapter(limits),
  room: legacyRoomAdapter(node, limits, (reason) => rejections.count(reason, log)),
  monitor: legacyMonitorAdapter(monitor, limits),
  notifications: legacyNotificationsAdapter(inbox, limits),
  centrifugo: centrifugoAdapter(transportHub),
};
const api = new GatewayApi({
  broker, registry: gateways, node, sockets, rejections, replies, log: log.child({ module: "api" }),
  socketCount: () => sweeper.size,
  info: { name: `${hostname()}:${config.port}`, version: VERSION },
});
const sweeper = new Sweeper(config.backpressureLimitBytes, (ws, now) => adapterOf(adapters, ws).sweep(ws, now));
let accepting = true;
const admission = { allowedOrigins: config.allowedOrigins, accepting: () => accepting, connections: () => sweeper.size + openStreams.size, maxConnections: config.maxConnections };
/** A client protocol session of `encoding` on `transport`, for a client at `address` whose request had `headers`. */
const newClient = (encoding: EncodingName, address: string, headers: Headers, transport: TransportName = "websocket") =>
  new Session(encoding === "json" ? jsonDeps : protobufDeps, { address, transport, headers: proxies.connectEnabled ? proxies.headers(headers) : {} });
const streamEndpoints = new StreamEndpoints({
  hub: transportHub, streams: openStreams, admission, maxBodyBytes: config.maxMessageBytes, limitBytes: config.backpressureLimitBytes, newSession: newClient,
  rejected: (reason) => rejections.count(reason, log),
});
const emulation = new EmulationRouter({
  gatewayId: publisher.origin, broker, sessions: sessionSecrets, replies, log: log.child({ module: "emulation" }), admission, maxBodyBytes: config.maxMessageBytes,
  rejected: (reason) => rejections.count(reason, log),
});

metrics.gauge("users", "Distinct users with a socket here (token subjects)", [], (g) => g.set(sockets.identifiedUsers));
const namespaceCounts = (): Map<string, { subs: number; channels: number }> => {
  const by = new Map<string, { subs: number; channels: number }>();
  for (const ns of config.channels.all()) by.set(ns.name === "" ? "_" : ns.name, { subs: 0, channels: 0 });
  for (const hub of new Set(hubs.values())) {
    for (const [channel, n] of hub.holdersByChannel()) {
      const ns = policy.resolve(channel);
      const c = ns.kind === "namespace" ? by.get(ns.namespace.name === "" ? "_" : ns.namespace.name) : undefined;
      if (!c) continue;
      c.subs += n;
      c.channels++;
    }
  }
  return by;
};
metrics.gauge("subscriptions", "Channel subscriptions here by namespace (a `/chat/`, `/system-monitor` or `/notifications` socket is one)", ["namespace"], (g) => {
  for (const [namespace, c] of namespaceCounts()) g.set({ namespace }, c.subs);
  g.set({ namespace: "system" }, monitor.protocolSubscribers + counters.open("monitor"));
  g.set({ namespace: "personal" }, inbox.subscriptionCount);
});
metrics.gauge("channels", "Channels with a subscriber here by namespace", ["namespace"], (g) => {
  for (const [namespace, c] of namespaceCounts()) g.set({ namespace }, c.channels);
  g.set({ namespace: "system" }, monitor.protocolSubscribers + counters.open("monitor") > 0 ? 1 : 0);
  g.set({ namespace: "personal" }, inbox.userCount);
});
metrics.gauge("streams", "Client protocol connections on HTTP responses here (HTTP-streaming, SSE and their push-only forms)", [], (g) => g.set(openStreams.size));
metrics.gauge("emulation_pending", "Emulation requests waiting for or running in their session here", [], (g) => g.set(emulation.pendingRequests));
metrics.gauge("nats_subscriptions", "Interest-based NATS subscriptions", [], (g) => g.set(broker.subscriptions));
metrics.gauge("room_outbox_held", "Room publishes held until the stream confirms them", [], (g) => g.set(outbox.size));

/** Ready: accepting sockets, connected to NATS, JetStream answering and every stream of this gateway in place (ROOMS and each namespace's). */
const ready = (): true | string => {
  if (!accepting) return "shutting down";
  if (!broker.connected()) return "nats disconnected";
  if (!inboxEpoch.jetstreamUp) return "jetstream not ready";
  for (const store of stores) if (!store.ready) return store.stream.namespace === CHAT_NAMESPACE ? "rooms stream not ready" : `stream ${store.stream.name} (namespace ${store.stream.namespace}) not ready`;
  return true;
};

// HTTP first: /healthz answers from the start and /readyz says why not while NATS is out of reach.
monitor.start();
gateways.start();
presence.start();
api.start();
emulation.start();
inboxEpoch.start();
for (const [i, epoch] of streamEpochs.entries()) epoch.start((look) => stores[i]!.onReady(look)); // ROOMS and the namespaces' streams are this gateway's own: each looked at once in place
publisher.start();
const demoNotifier = config.demoNotifier; // set with DEMO_PAGE=1 only
const demo = demoNotifier ? { page: (await import("../demo/index.html")).default, route: (req: Request, url: URL) => demoRoute(req, url, { jwt: config.jwt, auth, notifier: demoNotifier, log: log.child({ module: "demo" }) }) } : undefined;
if (demo) log.warn("DEMO_PAGE is on: the demo page at / and /demo/token, which signs a token for any user (development only)");
server = listenOrExit("gateway", config.port, () => startServer({ demo, config, auth, adapters, sockets, newClient, streams: streamEndpoints, emulation, connections: admission.connections, sweeper, rejections, counters, metrics: () => metrics.response(), ready, accepting: () => accepting, log }));
sweeper.start(config.sweepIntervalMs);
const streamSweep = setInterval(() => openStreams.sweep(), config.sweepIntervalMs);
log.info({ port: server.port, host: config.host }, "gateway listening");

onShutdown(log, async () => {
  accepting = false;
  sweeper.stop();
  clearInterval(streamSweep);
  emulation.stop();
  gateways.stop();
  publisher.stop();
  inboxEpoch.stop();
  for (const epoch of streamEpochs) epoch.stop();
  for (const store of stores) store.stop();
  for (const ws of sweeper.all()) adapterOf(adapters, ws).shutdown(ws); // 1001, or 3001 on the client protocol
  openStreams.closeAll(centrifugo.DisconnectCode.Shutdown); // the 3001 disconnect push, then the end
  await server?.stop(true);
  await broker.close();
});

// A room frame crosses NATS as it is: refuse a MAX_MESSAGE_BYTES the server would not carry (exit 2, as for any bad variable).
broker.onUp(() => loadConfigOrExit("gateway", () => checkMaxPayload(config.maxMessageBytes, broker.maxPayload())));
// noEcho: nothing this gateway publishes comes back to it, but the ROOMS stream's republished copies do (the server publishes them).
// Credentials the server refuses (at the first connect or at a reconnect) end the process: retrying cannot help.
broker.onFailed((err) => exitOnNatsFailure("gateway", log, err));
void broker.connect({ ...config.natsAuth, servers: config.natsServers, name: `gateway-${process.pid}`, noEcho: true }).catch((err: unknown) => exitOnNatsFailure("gateway", log, err));
