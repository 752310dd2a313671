import { isRoomId, isUserId } from "../ids.ts";
import { defaultNamespaces, type ChannelNamespaces, type Namespace } from "./namespaces.ts";

/** The client protocol's channel of every host's metrics samples. */
export const MONITOR_CHANNEL = "system:monitor";
/** Longest channel name in a namespace (Centrifugo's `channel.max_length`). */
export const MAX_CHANNEL_LENGTH = 255;
/** Longer names are refused before their namespace is looked at (107; `#<user>` is under it too). */
const MAX_NAME_LENGTH = 300;
/** A channel that starts with it needs a subscription token to be subscribed (Centrifugo's `private_prefix`). */
export const PRIVATE_PREFIX = "$";
/** Before it: the namespace. */
const NAMESPACE_BOUNDARY = ":";
/** After it, in a namespace that allows it: the users a channel is limited to, comma separated. */
const USER_BOUNDARY = "#";
const USER_SEPARATOR = ",";
/** Printable ASCII, no space: what a channel name in a namespace is made of. */
const CHANNEL_CHARS = /^[\x21-\x7e]+$/;

/** What a channel name is, read against the namespaces served. */
export type ChannelName =
  /** `#<user>`: that user's notifications (built in). */
  | { kind: "inbox"; channel: string; userId: string }
  /** `system:monitor` (built in). */
  | { kind: "monitor"; channel: string }
  /** A channel of a configured namespace (or of `without_namespace`). */
  | {
      kind: "namespace";
      channel: string;
      namespace: Namespace;
      /** The name after `<namespace>:` (the whole name without a namespace): what `channel_regex` is matched against. */
      rest: string;
      /** It starts with `$`: subscribing needs a subscription token. */
      private: boolean;
      /** `…#alice,bob`: the users it is limited to (undefined: none named). */
      users: readonly string[] | undefined;
      /** In the `chat` namespace: the room of `/chat/{room}`. */
      room: string | undefined;
    }
  /** A namespace nobody configured (or a name without one and no `without_namespace`): error 102. */
  | { kind: "unknown"; channel: string }
  /** A name that cannot be valid: error 107. */
  | { kind: "invalid"; channel: string; reason: string };

/**
 * Reads a channel name against `namespaces`. The namespace is what comes before the first `:`
 * (after a leading `$`); a name without `:` belongs to `without_namespace`. In a namespace: at most
 * 255 printable ASCII characters, and `#` and `,` only as a user list at the end (`dm:talk#alice,bob`);
 * in `chat`, the rest is a `/chat/` room id (a `$chat:` channel is not served). `channel_regex` is
 * not applied here: it binds clients only (see `channelRegexMatches`).
 */
export function resolveChannel(name: string, namespaces: ChannelNamespaces): ChannelName {
  const invalid = (reason: string): ChannelName => ({ kind: "invalid", channel: name, reason });
  if (name.length === 0) return invalid("empty");
  if (name.startsWith(USER_BOUNDARY)) {
    const userId = name.slice(1);
    return isUserId(userId) ? { kind: "inbox", channel: name, userId } : invalid("not a user id after #");
  }
  if (name === MONITOR_CHANNEL) return { kind: "monitor", channel: name };
  if (name.length > MAX_NAME_LENGTH) return invalid(`longer than ${MAX_CHANNEL_LENGTH} characters`);
  const isPrivate = name.startsWith(PRIVATE_PREFIX);
  const body = isPrivate ? name.slice(PRIVATE_PREFIX.length) : name;
  const colon = body.indexOf(NAMESPACE_BOUNDARY);
  const namespace = colon < 0 ? namespaces.withoutNamespace : colon === 0 ? undefined : namespaces.get(body.slice(0, colon));
  if (!namespace || (isPrivate && namespace.rooms)) return { kind: "unknown", channel: name };
  const rest = colon < 0 ? name : body.slice(colon + 1);
  if (name.length > MAX_CHANNEL_LENGTH) return invalid(`longer than ${MAX_CHANNEL_LENGTH} characters`);
  if (!CHANNEL_CHARS.test(name)) return invalid("not printable ASCII");
  if (rest.length === 0) return invalid("no name after the namespace");
  let users: string[] | undefined;
  const hash = rest.indexOf(USER_BOUNDARY);
  if (hash >= 0) {
    if (rest.indexOf(USER_BOUNDARY, hash + 1) >= 0) return invalid("more than one #");
    users = rest.slice(hash + 1).split(USER_SEPARATOR);
    if (users.some((u) => u.length === 0)) return invalid("an empty user in the list after #");
  }
  if ((hash < 0 ? rest : rest.slice(0, hash)).includes(USER_SEPARATOR)) return invalid(", outside the user list after #");
  if (namespace.rooms && !isRoomId(rest)) return invalid("not a room id (1 to 64 of A-Z a-z 0-9 _ -)");
  return { kind: "namespace", channel: name, namespace, rest, private: isPrivate, users, room: namespace.rooms ? rest : undefined };
}

/** The namespace a channel name names (what comes before the first `:`, after a leading `$`; "" without one): its name only, whether configured or not. */
export function namespaceOf(name: string): string {
  const body = name.startsWith(PRIVATE_PREFIX) ? name.slice(PRIVATE_PREFIX.length) : name;
  const colon = body.indexOf(NAMESPACE_BOUNDARY);
  return colon < 0 ? "" : body.slice(0, colon);
}

/** True when the channel's name fits its namespace's `channel_regex` (or it has none). Centrifugo applies it to clients only. */
export function channelRegexMatches(ref: Extract<ChannelName, { kind: "namespace" }>): boolean {
  const re = ref.namespace.options.channel_regex;
  return re === undefined || re.test(ref.rest);
}

/** What a channel name meant before namespaces could be configured (the built-in channels only). */
export type ChannelRef =
  | { kind: "room"; channel: string; room: string }
  | { kind: "inbox"; channel: string; userId: string }
  | { kind: "monitor"; channel: string }
  /** A namespace the gateway does not serve: error 102. */
  | { kind: "unknown"; channel: string }
  /** A name that cannot be valid (too long, or a room id `/chat/` would refuse): error 107. */
  | { kind: "invalid" };

/** The built-in channels (history numbers do not matter to names). */
const BUILT_IN = defaultNamespaces({ size: 1, ttlMs: 1000 });

/**
 * Parses a channel name against the built-in channels only (`chat:<room>`, `#<user>`,
 * `system:monitor`), in the shape tests' oracles read; the services use `resolveChannel` (through the policy).
 */
export function parseChannel(name: string): ChannelRef {
  return legacyRef(resolveChannel(name, BUILT_IN));
}

/** A resolved name in the old shape: a `chat` channel is a room; a channel of any other namespace is unknown to old callers. */
export function legacyRef(ref: ChannelName): ChannelRef {
  switch (ref.kind) {
    case "inbox":
    case "monitor":
    case "unknown":
      return ref;
    case "invalid":
      return { kind: "invalid" };
    case "namespace":
      return ref.room !== undefined ? { kind: "room", channel: ref.channel, room: ref.room } : { kind: "unknown", channel: ref.channel };
  }
}
