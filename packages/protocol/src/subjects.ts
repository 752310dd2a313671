import { ROOM_ID_PATTERN } from "./ids.ts";
import { decodeToken, encodeToken, isSafeToken } from "./subject-token.ts";

/** Every NATS subject the system uses is built here and only here. */

/** JetStream stream that stores every notification, one subject per user. */
export const NOTIFICATIONS_STREAM = "NOTIFICATIONS";
/** Stream subjects: `notify.user.<encoded user id>`. */
export const NOTIFY_USER_WILDCARD = "notify.user.*";
/** Live events (the stored notification with its seq), published by the notifier after the store acks. */
export const NOTIFY_LIVE_PREFIX = "notify.live.";
/** Request subject other services use to send a notification over NATS. */
export const NOTIFIER_SEND = "notifier.send";
/** Samples from every metrics host. */
export const METRICS_WILDCARD = "metrics.host.*";

function roomToken(room: string): string {
  if (!ROOM_ID_PATTERN.test(room)) throw new RangeError("invalid room id");
  return room;
}

/** Subject carrying one room's messages between gateways. */
export const roomSubject = (room: string): string => `chat.room.${roomToken(room)}`;

/** The room id from a room subject, or undefined when the subject is not one. */
export function roomFromSubject(subject: string): string | undefined {
  const room = subject.slice("chat.room.".length);
  return subject.startsWith("chat.room.") && ROOM_ID_PATTERN.test(room) ? room : undefined;
}

/** Stream subject storing one user's notifications. */
export const userStoreSubject = (userId: string): string => `notify.user.${encodeToken(userId)}`;

/** Subject of one user's live notification events. */
export const userLiveSubject = (userId: string): string => `${NOTIFY_LIVE_PREFIX}${encodeToken(userId)}`;

/** Subject a gateway publishes a delivery receipt on for notification `id` (ids are generated, subject-safe). */
export function deliveredSubject(id: string): string {
  if (!isSafeToken(id)) throw new RangeError("invalid notification id");
  return `notify.delivered.${id}`;
}

/** Subject of one metrics host's samples. */
export const metricsSubject = (hostId: string): string => `metrics.host.${encodeToken(hostId)}`;

/** The host id from a metrics subject, or undefined. */
export function hostFromSubject(subject: string): string | undefined {
  if (!subject.startsWith("metrics.host.")) return undefined;
  return decodeToken(subject.slice("metrics.host.".length));
}

/** JetStream's advisories that a stream was created or deleted (stream names are ours, subject-safe). */
export function streamAdvisorySubjects(stream: string): string[] {
  if (!isSafeToken(stream)) throw new RangeError("invalid stream name");
  return [`$JS.EVENT.ADVISORY.STREAM.CREATED.${stream}`, `$JS.EVENT.ADVISORY.STREAM.DELETED.${stream}`];
}
