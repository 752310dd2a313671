import { INBOX_PREFIX, NOTIFICATIONS_STREAM, ROOMS_STREAM, roomMaxMessageSize } from "@rt/protocol";
import { Metrics, ReplyGuard, createLogger, exitOnNatsFailure, listenOrExit, loadConfigOrExit, natsMetrics, onShutdown } from "@rt/runtime";
import { JwtAuthenticator } from "./auth.ts";
import { NatsBroker } from "./broker/nats-broker.ts";
import { Outbox } from "./broker/outbox.ts";
import { StreamPublisher } from "./broker/stream-publisher.ts";
import { Inbox } from "./channels/inbox.ts";
import { JetStreamNotificationStore } from "./channels/inbox-store.ts";
import { MonitorRelay } from "./channels/monitor.ts";
import { RoomHub } from "./channels/room.ts";
import { RoomStore } from "./channels/room-store.ts";
import { StreamEpoch } from "./channels/stream-epoch.ts";
import { checkMaxPayload, loadGatewayConfig } from "./config.ts";
import type { Adapters } from "./protocols/adapter.ts";
import { centrifugoAdapter } from "./protocols/centrifugo/adapter.ts";
import { Client, type ClientDeps } from "./protocols/centrifugo/client.ts";
import { JsonCodec } from "./protocols/centrifugo/codec-json.ts";
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
import { Rejections } from "./rejections.ts";
import { adapterOf, startServer } from "./server.ts";
import { CreateLimit } from "./sessions/create-limit.ts";
import { SocketIndex } from "./sessions/socket-index.ts";
import { Sweeper } from "./sessions/sweeper.ts";

const VERSION = "rt-gateway 0.3";

const config = loadConfigOrExit("gateway", () => loadGatewayConfig());
const log = createLogger("gateway", config.logLevel);
if (config.allowInsecureUserId) log.warn("ALLOW_INSECURE_USER_ID is on: /notifications accepts ?user_id= without a token (development only)");
if (config.protocol.allowAnonymous) log.warn("ALLOW_ANONYMOUS is on: /connection/websocket accepts a connect without a token (development only)");
if (!config.allowedOrigins) log.warn("ALLOWED_ORIGINS is unset: browsers from any origin may connect");

const metrics = new Metrics();
const rejections = new Rejections(metrics);
const replies = new ReplyGuard(metrics, log.child({ module: "replies" }), ["gateway.api", "gateway.control", "presence.query"]);
const broker = new NatsBroker(log.child({ module: "nats" }), INBOX_PREFIX.gateway);
const counters = new GatewayMetrics(metrics, natsMetrics(metrics, () => broker.connected()).publishFailures);
const limits = { backpressureBytes: config.backpressureLimitBytes };
let server: ReturnType<typeof startServer> | undefined;
const getServer = () => server!;
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
  onStored: (ms) => counters.stored("ROOMS", ms / 1000),
});

// Channels: rooms, inboxes, the monitor.
const encodings = [jsonPushes, protobufPushes];
const roomEpoch = new StreamEpoch(ROOMS_STREAM, broker, log.child({ module: "rooms-epoch" }), "the gateways create it when they connect to NATS");
const roomLimits = { ...config.roomHistory, maxMsgSize: roomMaxMessageSize(config.maxMessageBytes), replicas: config.replicas };
const roomStore = new RoomStore(broker, roomLimits, log.child({ module: "rooms-store" }), (seq) => rejections.count("stored_publication_invalid", log, { seq }));
const createLimit = new CreateLimit(config.channelCreate.perMin, config.channelCreate.burst);
const rooms = new RoomHub(getServer, broker, roomStore, roomEpoch, publisher, encodings, config.roomHistory.size, config.maxMessageBytes, rejections, log.child({ module: "rooms" }), published, createLimit, counters);
const inboxEpoch = new StreamEpoch(NOTIFICATIONS_STREAM, broker, log.child({ module: "epoch" }), "the notifier creates it: is it running?");
const inboxStore = new JetStreamNotificationStore(broker, (seq) => rejections.count("stored_notification_invalid", log, { seq }));
const inbox = new Inbox(broker, inboxStore, inboxEpoch, rejections, log.child({ module: "notifications" }), config.backpressureLimitBytes, counters);
const gateways = new GatewayRegistry(publisher.origin, broker, log.child({ module: "gateways" }), () => rejections.count("nats_heartbeat_payload", log), config.cluster);
const presence = new Presence(getServer, broker, gateways, encodings, rejections, replies, log.child({ module: "presence" }), published);
const monitor = new MonitorRelay(getServer, broker, encodings, rejections, log.child({ module: "monitor" }), published, counters);

// Protocols: the article's four endpoints and the client protocol.
const sockets = new SocketIndex();
const auth = new JwtAuthenticator(config.jwt, config.allowInsecureUserId);
// One set of client dependencies per encoding (the same rooms, inboxes, presence and per-user counts).
const jsonDeps: ClientDeps = {
  auth, rooms, inbox, inboxStore, monitor, presence, broker, codec: new JsonCodec(), rejections, counters, log: log.child({ module: "client" }), perUser: new Map(), sockets,
  config: { ...config.protocol, rateLimitPerSec: config.rateLimitPerSec, rateLimitBurst: config.rateLimitBurst, maxChannels: 128, historySize: config.roomHistory.size, version: VERSION, maxMessageBytes: config.maxMessageBytes },
};
const protobufDeps: ClientDeps = { ...jsonDeps, codec: new ProtobufCodec() };
const adapters: Adapters = {
  echo: echoAdapter(limits),
  room: legacyRoomAdapter(rooms, presence, limits, config.maxMessageBytes, (reason) => rejections.count(reason, log)),
  monitor: legacyMonitorAdapter(monitor, limits),
  notifications: legacyNotificationsAdapter(inbox, limits),
  centrifugo: centrifugoAdapter(inbox, limits),
};
const api = new GatewayApi({
  server: getServer, broker, registry: gateways, rooms, presence, inbox, inboxStore, inboxEpoch, sockets, encodings, rejections, replies, log: log.child({ module: "api" }),
  socketCount: () => sweeper.size,
  info: { name: `${hostname()}:${config.port}`, version: VERSION, historySize: config.roomHistory.size },
});
const sweeper = new Sweeper(config.backpressureLimitBytes, (ws, now) => adapterOf(adapters, ws).sweep(ws, now));
let accepting = true;

metrics.gauge("users", "Distinct users with a socket here (token subjects)", [], (g) => g.set(sockets.users));
metrics.gauge("subscriptions", "Channel subscriptions here by namespace (a `/chat/`, `/system-monitor` or `/notifications` socket is one)", ["namespace"], (g) => {
  g.set({ namespace: "chat" }, rooms.holders);
  g.set({ namespace: "system" }, monitor.protocolSubscribers + counters.open("monitor"));
  g.set({ namespace: "personal" }, inbox.subscriptionCount);
});
metrics.gauge("channels", "Channels with a subscriber here by namespace", ["namespace"], (g) => {
  g.set({ namespace: "chat" }, rooms.size);
  g.set({ namespace: "system" }, monitor.protocolSubscribers + counters.open("monitor") > 0 ? 1 : 0);
  g.set({ namespace: "personal" }, inbox.userCount);
});
metrics.gauge("nats_subscriptions", "Interest-based NATS subscriptions", [], (g) => g.set(broker.subscriptions));
metrics.gauge("room_outbox_held", "Room publishes held until the stream confirms them", [], (g) => g.set(outbox.size));

/** Ready: accepting sockets, connected to NATS, JetStream answering and the rooms stream in place. */
const ready = (): true | string => {
  if (!accepting) return "shutting down";
  if (!broker.connected()) return "nats disconnected";
  if (!inboxEpoch.jetstreamUp) return "jetstream not ready";
  if (!roomStore.ready) return "rooms stream not ready";
  return true;
};

// HTTP first: /healthz answers from the start and /readyz says why not while NATS is out of reach.
monitor.start();
gateways.start();
presence.start();
api.start();
inboxEpoch.start();
roomEpoch.start((look) => roomStore.onReady(look)); // ROOMS is this gateway's own: looked at once in place
publisher.start();
const demoNotifier = config.demoNotifier; // set with DEMO_PAGE=1 only
const demo = demoNotifier ? { page: (await import("../demo/index.html")).default, route: (req: Request, url: URL) => demoRoute(req, url, { jwt: config.jwt, auth, notifier: demoNotifier, log: log.child({ module: "demo" }) }) } : undefined;
if (demo) log.warn("DEMO_PAGE is on: the demo page at / and /demo/token, which signs a token for any user (development only)");
server = listenOrExit("gateway", config.port, () => startServer({ demo, config, auth, adapters, sockets, newClient: (encoding, address) => new Client(encoding === "json" ? jsonDeps : protobufDeps, address), sweeper, rejections, counters, metrics: () => metrics.response(), ready, accepting: () => accepting, log }));
sweeper.start(config.sweepIntervalMs);
log.info({ port: server.port, host: config.host }, "gateway listening");

onShutdown(log, async () => {
  accepting = false;
  sweeper.stop();
  gateways.stop();
  publisher.stop();
  inboxEpoch.stop();
  roomEpoch.stop();
  roomStore.stop();
  for (const ws of sweeper.all()) adapterOf(adapters, ws).shutdown(ws); // 1001, or 3001 on the client protocol
  await server?.stop(true);
  await broker.close();
});

// A room frame crosses NATS as it is: refuse a MAX_MESSAGE_BYTES the server would not carry (exit 2, as for any bad variable).
broker.onUp(() => loadConfigOrExit("gateway", () => checkMaxPayload(config.maxMessageBytes, broker.maxPayload())));
// noEcho: nothing this gateway publishes comes back to it, but the ROOMS stream's republished copies do (the server publishes them).
// Credentials the server refuses (at the first connect or at a reconnect) end the process: retrying cannot help.
broker.onFailed((err) => exitOnNatsFailure("gateway", log, err));
void broker.connect({ ...config.natsAuth, servers: config.natsServers, name: `gateway-${process.pid}`, noEcho: true }).catch((err: unknown) => exitOnNatsFailure("gateway", log, err));
