import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, createLogger, drainOrClose, loadConfigOrExit, onShutdown } from "@rt/runtime";
import { Registry, Gauge, collectDefaultMetrics } from "prom-client";
import { JwtAuthenticator } from "./auth.ts";
import { loadGatewayConfig } from "./config.ts";
import { Interest } from "./interest.ts";
import { MonitorRelay } from "./monitor.ts";
import { JetStreamNotificationStore } from "./notification-store.ts";
import { Notifications } from "./notifications.ts";
import { Rejections } from "./rejections.ts";
import { Rooms } from "./rooms.ts";
import { startServer } from "./server.ts";
import { Sweeper } from "./sweeper.ts";

const config = loadConfigOrExit("gateway", () => loadGatewayConfig());
const log = createLogger("gateway", config.logLevel);
if (config.allowInsecureUserId) log.warn("ALLOW_INSECURE_USER_ID is on: /notifications accepts ?user_id= without a token (development only)");
if (!config.allowedOrigins) log.warn("ALLOWED_ORIGINS is unset: browsers from any origin may connect");

// noEcho: a room message this gateway publishes is not handed back to it (see rooms.ts).
const nats = await connectNats({ servers: config.natsServers, name: `gateway-${process.pid}`, logger: log.child({ module: "nats" }), noEcho: true });
const jsm = await jetstreamManager(nats.nc, { timeout: 5000 });

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const rejections = new Rejections(registry);
const interest = new Interest(nats.nc, (subject, err) => log.error({ subject, err }, "NATS message handler failed"));
let server: ReturnType<typeof startServer> | undefined;
const getServer = () => server!;
const store = new JetStreamNotificationStore(jsm, (seq) => rejections.count("stored_notification_invalid", log, { seq }));
const published = (bytes: number) => sweeper.published(bytes);
const rooms = new Rooms(getServer, nats.nc, interest, config.maxMessageBytes, rejections, log.child({ module: "rooms" }), published);
const monitor = new MonitorRelay(getServer, rejections, log.child({ module: "monitor" }), published);
const notifications = new Notifications(nats.nc, interest, store, nats.connected, rejections, log.child({ module: "notifications" }), config.backpressureLimitBytes);
const sweeper = new Sweeper(config.backpressureLimitBytes, monitor);
let accepting = true;

new Gauge({ name: "gateway_sockets", help: "Open WebSockets", registers: [registry], collect() { this.set(sweeper.size); } });
new Gauge({ name: "gateway_nats_subscriptions", help: "Interest-based NATS subscriptions", registers: [registry], collect() { this.set(interest.size); } });

monitor.start(nats.nc);
nats.onReconnect(() => notifications.resumeAll());
server = startServer({ config, auth: new JwtAuthenticator(config.jwt, config.allowInsecureUserId), rooms, monitor, notifications, sweeper, rejections, registry, ready: () => accepting && nats.connected(), accepting: () => accepting, log });
sweeper.start(config.sweepIntervalMs);
log.info({ port: server.port, host: config.host }, "gateway listening");

onShutdown(log, async () => {
  accepting = false;
  sweeper.stop();
  await server?.stop(true); // closes every socket with 1001
  await drainOrClose(nats.nc);
});
