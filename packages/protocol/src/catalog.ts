import type { TSchema } from "typebox";
import { ChatError, ChatMessage, ChatReceived } from "./frames.ts";
import { MetricsSample } from "./metrics.ts";
import { AnswerRecord, LiveNotification, NotificationFrame, NotifyAnswer, NotifyErrorAnswer, NotifyRequest, StoredNotification } from "./notification.ts";
import { ControlAnswer } from "./control.ts";
import { EmulationAnswer, EmulationForward } from "./emulation.ts";
import { GatewayHeartbeat, PresenceAnswer, PresenceEvent, PresenceQuery } from "./presence.ts";
import { RoomPublication } from "./rooms.ts";

/** One message of the public contract: its schema (the single source of truth) and where it travels. */
export interface CatalogEntry {
  name: string;
  schema: TSchema;
  /** Where it travels: an endpoint or a NATS subject. */
  where: string;
  /** Who sends it to whom. */
  direction: string;
  summary: string;
}

/** Every JSON message clients, services and gateways exchange (docs/messages.md is generated from this). */
export const CATALOG: CatalogEntry[] = [
  { name: "ChatMessage", schema: ChatMessage, where: "`/ws-chat`", direction: "client → gateway", summary: "A text frame; unknown properties are ignored and not echoed." },
  { name: "ChatReceived", schema: ChatReceived, where: "`/ws-chat`", direction: "gateway → client", summary: "The answer to a valid ChatMessage; `type` defaults to `\"text\"`." },
  { name: "ChatError", schema: ChatError, where: "`/ws-chat`", direction: "gateway → client", summary: "The answer to anything else (not JSON, wrong shape, a binary frame); the socket stays open." },
  { name: "MetricsSample", schema: MetricsSample, where: "`/system-monitor`; NATS `metrics.host.<host>`", direction: "metrics → NATS → gateway → client (sent as published)", summary: "One sample of one host: `cpu_load` is the 1-minute load average, `memory_usage` the percent of memory in use (0-100), `cpu_percent` the CPU busy percent since the previous sample, `timestamp` ISO-8601, `interval_ms` the host's sampling period." },
  { name: "NotificationFrame", schema: NotificationFrame, where: "`/notifications`", direction: "gateway → client", summary: "One notification. `seq` only grows for a user within one `epoch`." },
  { name: "NotifyRequest", schema: NotifyRequest, where: "`POST /notifications` (notifier); NATS request `notifier.send`", direction: "service → notifier", summary: "`body` at most 64 KiB of UTF-8, the whole request at most 256 KiB (and the notification as stored at most 257 KiB), `data` nested at most 64 levels." },
  { name: "NotifyAnswer", schema: NotifyAnswer, where: "`POST /notifications` 202/200; reply to `notifier.send`", direction: "notifier → service", summary: "The stored notification's id, seq and epoch; `delivered` only when `wait_for_delivery_ms` was given." },
  { name: "NotifyErrorAnswer", schema: NotifyErrorAnswer, where: "`POST /notifications` 4xx/5xx; reply to `notifier.send` (with `status` added)", direction: "notifier → service", summary: "Every problem found, each with a JSON pointer (`path`) into the request." },
  { name: "StoredNotification", schema: StoredNotification, where: "JetStream stream `NOTIFICATIONS`, subject `notify.user.<user>`", direction: "notifier → stream → gateway", summary: "As stored; the stream sequence is its `seq`; `prev_seq` is the user's previous one (enforced with `Nats-Expected-Last-Subject-Sequence`)." },
  { name: "RoomPublication", schema: RoomPublication, where: "NATS `chat.room.<room>` (stream `ROOMS`), `chat.live.<room>`; `chan.store.<ns>.<channel>` (stream `NS_<ns>`), `chan.live.<ns>.<channel>`, `chan.pub.<ns>.<channel>` (no stream); `/connection/websocket` publication pushes (with `offset` on channels with history)", direction: "gateway → stream → gateways → clients", summary: "One publication on a channel: the publisher's JSON `data` and who published it (`info`, with its `chan_info` when a subscription token gave it one; none when the server API published it). A `/chat/` text frame `hello` is `{\"data\":{\"text\":\"hello\"}}` on `chat:<room>`." },
  { name: "GatewayHeartbeat", schema: GatewayHeartbeat, where: "NATS `gateway.heartbeat.<gateway>`", direction: "gateway → gateways", summary: "Every `GATEWAY_HEARTBEAT_INTERVAL` (5 s), and at once when the gateway's NATS link is back (`gen` one higher). A gateway silent for `GATEWAY_GONE_AFTER` (15 s) is gone: its members leave presence." },
  { name: "PresenceQuery", schema: PresenceQuery, where: "NATS request `presence.query.<room>`, `presence.query.<ns>.<channel>`", direction: "gateway → gateways", summary: "Who is in the channel on each gateway: the members presence lists (`list`), their counts (`stats`), or every member whose joins and leaves are told (`members`)." },
  { name: "PresenceAnswer", schema: PresenceAnswer, where: "reply to `presence.query.<room>`", direction: "gateway → gateway", summary: "One gateway's answer in `parts` messages of at most 128 KiB: `members` as `[client, user]` pairs, or `clients` (the count) and `users` (distinct)." },
  { name: "PresenceEvent", schema: PresenceEvent, where: "NATS `presence.event.<room>`, `presence.event.<ns>.<channel>`", direction: "gateway → gateways", summary: "Members that joined or left the channel on `gateway`, in order, as `[kind, client, user]` (with the member's channel info fourth when it has one; the changes of one event-loop turn together, at most 1000 per message); pushed as `join`/`leave` to subscribers that asked for them." },
  { name: "ControlAnswer", schema: ControlAnswer, where: "reply to `gateway.control.<op>`", direction: "gateway → gateway", summary: "One gateway's part of a server API call that spans gateways: what it did (`done`: connections unsubscribed or closed), its channels with member counts, or its `node` (info); in parts of at most 128 KiB." },
  { name: "EmulationForward", schema: EmulationForward, where: "NATS request `gateway.emulation.<gateway>`", direction: "gateway → gateway", summary: "An HTTP-streaming or SSE client's `POST /emulation` taken by another gateway than its session's: the session secret (gateways only may read this subject), the session's encoding and its commands (JSON text, or base64 of the Protobuf bytes)." },
  { name: "EmulationAnswer", schema: EmulationAnswer, where: "reply to `gateway.emulation.<gateway>`", direction: "gateway → gateway", summary: "`delivered` once the session took the commands (the POST gets 204), `gone` (404), `bad_request` (400: another encoding), `busy` (429: too many waiting for the session)." },
  { name: "AnswerRecord", schema: AnswerRecord, where: "JetStream stream `NOTIFY_ANSWERS`, subject `notify.answer.<dedup id>`", direction: "notifier → stream → notifier", summary: "The first answer to a notification sent with both `idempotency_key` and `wait_for_delivery_ms`, recorded once its wait ended: a repeat within `NOTIFIER_DEDUP_WINDOW`, on any notifier, answers the same `delivered`. One message per key, kept for the dedup window." },
  { name: "LiveNotification", schema: LiveNotification, where: "NATS `notify.live.<user>`", direction: "notifier → gateways", summary: "Published after the store acknowledged it: the stored notification plus `seq` and `epoch`." },
];
