import { REPLY_PREFIX } from "./subjects.ts";

/**
 * Who may call each responder of the system, as the reply prefixes their requests carry: a
 * responder answers only there, so a request cannot make it publish anywhere else (a stream's
 * purge, a room, an inbox). deploy/nats/auth.conf gives each NATS user the same prefixes to publish
 * replies into; docs/nats-security.md explains each line.
 */
export const REPLY_PREFIXES = {
  /** Backends (and the command-line tools), with their client library's default inbox. */
  "notifier.send": [REPLY_PREFIX.clients],
  /** The same. */
  api: [REPLY_PREFIX.clients],
  /** The notifier only. */
  "gateway.api": [REPLY_PREFIX.gatewayApi],
  /** Gateways only. */
  "gateway.control": [REPLY_PREFIX.gather],
  /** Gateways only. */
  "presence.query": [REPLY_PREFIX.gather],
  /** Gateways only (an emulation request's answer: delivered to the session, or why not). */
  "gateway.emulation": [REPLY_PREFIX.emulation],
} as const satisfies Record<string, readonly string[]>;

/** A responder: the subjects it answers, as the `responder` label of `rt_reply_refused_total`. */
export type Responder = keyof typeof REPLY_PREFIXES;

/** The longest reply subject answered (nats.js' own are about 40 characters). */
export const MAX_REPLY_SUBJECT_LENGTH = 256;

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** Per responder: its prefixes, then one or more tokens of [A-Za-z0-9_-] (no wildcard, no empty token). */
const PATTERNS = Object.fromEntries(
  Object.entries(REPLY_PREFIXES).map(([responder, prefixes]) => [responder, new RegExp(`^(?:${prefixes.map(escape).join("|")})[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)*$`)]),
) as Record<Responder, RegExp>;

/** True when `responder` may publish its answer on `reply`: a well-formed subject of at most MAX_REPLY_SUBJECT_LENGTH characters under one of its callers' prefixes. */
export function replyAccepted(responder: Responder, reply: string): boolean {
  return reply.length <= MAX_REPLY_SUBJECT_LENGTH && PATTERNS[responder].test(reply);
}
