import { NOTIFICATIONS_STREAM } from "@rt/protocol";
import { createLogger, loadConfigOrExit, onShutdown } from "@rt/runtime";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { JwtAuthenticator } from "./auth.ts";
import { ConfirmedPublisher } from "./broker/confirmed-publisher.ts";
import { NatsBroker } from "./broker/nats-broker.ts";
import { OriginFilter } from "./broker/origin-filter.ts";
import { Outbox } from "./broker/outbox.ts";
import { StreamEpoch } from "./channels/stream-epoch.ts";
import { checkMaxPayload, loadGatewayConfig } from "./config.ts";
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

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const rejections = new Rejections(registry);
const broker = new NatsBroker(log.child({ module: "nats" }));
const epoch = new StreamEpoch(NOTIFICATIONS_STREAM, broker, log.child({ module: "epoch" }));
const outboxDropped = new Counter({ name: "gateway_room_outbox_dropped_total", help: "Room publishes given up before NATS confirmed them", labelNames: ["reason"], registers: [registry] });
const outbox = new Outbox(config.outbox, (reason, n) => {
  outboxDropped.inc({ reason }, n);
  rejections.count(`room_outbox_${reason}`, log, { dropped: n });
});
const publisher = new ConfirmedPublisher(broker, outbox, (err) => rejections.count("nats_publish_failed", log, { err: String(err) }));
let server: ReturnType<typeof startServer> | undefined;
const getServer = () => server!;
const store = new JetStreamNotificationStore(broker, (seq) => rejections.count("stored_notification_invalid", log, { seq }));
const published = (bytes: number) => sweeper.published(bytes);
const repeats = new Counter({ name: "gateway_room_repeats_dropped_total", help: "Room messages another gateway sent again after a reconnect, dropped here", registers: [registry] });
const rooms = new Rooms(getServer, broker, publisher, new OriginFilter(), config.maxMessageBytes, rejections, log.child({ module: "rooms" }), published, () => repeats.inc());
const monitor = new MonitorRelay(getServer, broker, rejections, log.child({ module: "monitor" }), published);
const notifications = new Notifications(broker, store, epoch, rejections, log.child({ module: "notifications" }), config.backpressureLimitBytes);
const sweeper = new Sweeper(config.backpressureLimitBytes, monitor);
let accepting = true;

new Gauge({ name: "gateway_sockets", help: "Open WebSockets", registers: [registry], collect() { this.set(sweeper.size); } });
new Gauge({ name: "gateway_nats_subscriptions", help: "Interest-based NATS subscriptions", registers: [registry], collect() { this.set(broker.subscriptions); } });
new Gauge({ name: "gateway_room_outbox_held", help: "Room publishes held until NATS confirms them", registers: [registry], collect() { this.set(outbox.size); } });

/** Ready: accepting sockets, connected to NATS, and JetStream answering. */
const ready = (): true | string => {
  if (!accepting) return "shutting down";
  if (!broker.connected()) return "nats disconnected";
  if (!epoch.jetstreamUp) return "jetstream not ready";
  return true;
};

// HTTP first: /healthz answers from the start and /readyz says why not while NATS is out of reach.
monitor.start();
epoch.start();
server = startServer({ config, auth: new JwtAuthenticator(config.jwt, config.allowInsecureUserId), rooms, monitor, notifications, sweeper, rejections, registry, ready, accepting: () => accepting, log });
sweeper.start(config.sweepIntervalMs);
log.info({ port: server.port, host: config.host }, "gateway listening");

onShutdown(log, async () => {
  accepting = false;
  sweeper.stop();
  epoch.stop();
  await server?.stop(true); // closes every socket with 1001
  await broker.close();
});

// A room frame crosses NATS as it is: refuse a MAX_MESSAGE_BYTES the server would not carry (exit 2, as for any bad variable).
broker.onUp(() => loadConfigOrExit("gateway", () => checkMaxPayload(config.maxMessageBytes, broker.maxPayload())));
// noEcho: a room message this gateway publishes is not handed back to it (see rooms.ts).
void broker.connect({ servers: config.natsServers, name: `gateway-${process.pid}`, noEcho: true });
