import type { Server } from "bun";
import { CloseCode, EPOCH_PATTERN, roomSubject } from "@rt/protocol";
import { healthRoute, json, type Logger } from "@rt/runtime";
import type { Registry } from "prom-client";
import type { Authenticator } from "./auth.ts";
import type { GatewayConfig } from "./config.ts";
import { BINARY_REPLY, echoReply } from "./echo.ts";
import { isWebSocketHandshake } from "./handshake.ts";
import type { MonitorRelay } from "./monitor.ts";
import { StreamCursor } from "./channels/cursor.ts";
import { HELD_LIMITS, Notifications } from "./notifications.ts";
import { newBucket } from "./rate-limit.ts";
import type { Rejections } from "./rejections.ts";
import { Rooms } from "./rooms.ts";
import { route } from "./routes.ts";
import type { GatewaySocket, MonitorData, NotificationsData, RoomData, SocketData } from "./socket-data.ts";
import type { Sweeper } from "./sweeper.ts";

/** What the HTTP/WebSocket server needs from the rest of the gateway. */
export interface ServerDeps {
  config: GatewayConfig;
  auth: Authenticator;
  rooms: Rooms;
  monitor: MonitorRelay;
  notifications: Notifications;
  sweeper: Sweeper;
  rejections: Rejections;
  registry: Registry;
  /** True when ready to serve; otherwise why not (for `/readyz`). */
  ready: () => true | string;
  /** False once shutdown began: new upgrades are refused with 503. */
  accepting: () => boolean;
  log: Logger;
}

const SINCE = /^\d{1,16}$/;

/** Starts Bun.serve with the four endpoints, health, readiness and metrics. */
export function startServer(d: ServerDeps): Server<SocketData> {
  const { config, log } = d;
  const reject = (status: number, reason: string, message: string): Response => {
    d.rejections.count(reason, log);
    return json(status, { error: message });
  };

  /** Upgrade checks in SPEC's order: 404, 403, 400 room, 401, 503, 400 no upgrade. */
  async function fetch(req: Request, server: Server<SocketData>): Promise<Response | undefined> {
    const url = new URL(req.url);
    const health = healthRoute(url.pathname, d.ready);
    if (health) return health;
    const r = route(url.pathname);
    switch (r.kind) {
      case "metrics":
        return new Response(await d.registry.metrics(), { headers: { "content-type": d.registry.contentType } });
      case "notFound":
        return json(404, { error: "not found" });
    }
    const origin = req.headers.get("origin");
    if (origin !== null && config.allowedOrigins && !config.allowedOrigins.has(origin)) return reject(403, "origin", "origin not allowed");
    if (r.kind === "badRoom") return reject(400, "room_id", "room id must be 1 to 64 characters of A-Z a-z 0-9 _ -");

    let data: SocketData;
    const bucket = newBucket(config.rateLimitPerSec, config.rateLimitBurst);
    if (r.kind === "notifications") {
      const sinceText = url.searchParams.get("since");
      if (sinceText !== null && !SINCE.test(sinceText)) return reject(400, "since", "since must be a whole number");
      const sinceEpoch = url.searchParams.get("epoch");
      if (sinceEpoch !== null && !EPOCH_PATTERN.test(sinceEpoch)) return reject(400, "epoch", "epoch must be 1 to 32 characters of A-Z a-z 0-9 _ -");
      const principal = await d.auth.authenticate(req, url);
      if (!principal) return reject(401, "token", "missing, invalid or expired token");
      data = {
        kind: "notifications",
        bucket,
        userId: principal.userId,
        expiresAt: principal.expiresAt,
        since: sinceText === null ? undefined : Number(sinceText),
        sinceEpoch: sinceEpoch ?? undefined,
        openedAt: Date.now(),
        cursor: new StreamCursor(HELD_LIMITS),
        sync: Notifications.syncState(),
      };
    } else if (r.kind === "room") {
      data = { kind: "room", bucket, room: r.room, topic: Rooms.topic(r.room), subject: roomSubject(r.room) };
    } else if (r.kind === "monitor") {
      data = { kind: "monitor", bucket, stalled: false };
    } else {
      data = { kind: "echo", bucket };
    }
    if (!d.accepting() || d.sweeper.size >= config.maxConnections) return reject(503, "capacity", "gateway is full or shutting down");
    if (isWebSocketHandshake(req) && server.upgrade(req, { data })) return undefined;
    return reject(400, "no_upgrade", "expected a WebSocket upgrade");
  }

  return Bun.serve<SocketData>({
    port: config.port,
    hostname: config.host,
    reusePort: true,
    fetch(req, server) {
      return fetch(req, server).catch((err: unknown) => {
        log.error({ err }, "request failed");
        return json(500, { error: "internal error" });
      });
    },
    error(err) {
      log.error({ err }, "server error");
      return json(500, { error: "internal error" });
    },
    websocket: {
      data: {} as SocketData,
      maxPayloadLength: config.maxMessageBytes,
      // Bun's own limit is a backstop above ours: the sweeper closes with 1013 first (see sweeper.ts); past this Bun cuts the socket rather than drop silently.
      backpressureLimit: 2 * config.backpressureLimitBytes + 4 * config.maxMessageBytes,
      closeOnBackpressureLimit: true,
      idleTimeout: config.idleTimeoutSec,
      sendPings: true,
      perMessageDeflate: false,
      publishToSelf: false,
      open(ws) {
        d.sweeper.add(ws);
        try {
          switch (ws.data.kind) {
            case "room":
              d.rooms.join(ws as GatewaySocket & { data: RoomData });
              break;
            case "monitor":
              d.monitor.open(ws);
              break;
            case "notifications":
              d.notifications.open(ws as GatewaySocket & { data: NotificationsData });
              break;
          }
        } catch (err) {
          log.error({ err }, "open failed");
          ws.close(CloseCode.InternalError, "internal error");
        }
      },
      message(ws, message) {
        const data = ws.data;
        if (data.bucket && !data.bucket.take()) {
          d.rejections.count("rate_limit", log);
          ws.close(CloseCode.PolicyViolation, "rate limit");
          return;
        }
        try {
          switch (data.kind) {
            case "echo":
              ws.send(typeof message === "string" ? echoReply(message) : BINARY_REPLY);
              // A client that sends but never reads is closed here, per reply, not by the sweeper.
              if (ws.getBufferedAmount() > config.backpressureLimitBytes) ws.close(CloseCode.TryAgainLater, "slow consumer");
              break;
            case "room":
              if (typeof message !== "string") {
                d.rejections.count("binary_frame", log);
                ws.close(CloseCode.UnsupportedData, "text frames only");
                return;
              }
              d.rooms.say(data, message);
              break;
            default:
              // Monitor and notification sockets only listen; what they send is ignored.
              break;
          }
        } catch (err) {
          log.error({ err }, "message failed");
          ws.close(CloseCode.InternalError, "internal error");
        }
      },
      drain(ws) {
        if (ws.data.kind === "notifications") d.notifications.drain(ws as GatewaySocket & { data: NotificationsData });
        else if (ws.data.kind === "monitor") d.monitor.check(ws as GatewaySocket & { data: MonitorData }, config.backpressureLimitBytes);
      },
      close(ws) {
        d.sweeper.delete(ws);
        switch (ws.data.kind) {
          case "room":
            d.rooms.leave(ws.data);
            break;
          case "notifications":
            d.notifications.close(ws as GatewaySocket & { data: NotificationsData });
            break;
        }
      },
    },
  });
}
