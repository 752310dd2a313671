import Type, { type Static, type TSchema } from "typebox";
import { GO_DURATION_PATTERN, parseGoDuration } from "./duration.ts";

/** Most publications a namespace keeps per channel (as ROOM_HISTORY_SIZE). */
export const MAX_HISTORY_SIZE = 100_000;
/** Longest `history_ttl`: Centrifugo's default `history_meta_ttl` (720h), which a history may not outlive. */
export const MAX_HISTORY_TTL_MS = 720 * 3_600_000;
/** Longest `channel_regex` source. */
const MAX_REGEX_LENGTH = 1024;

/** The delta encodings a namespace may allow (Centrifugo knows one). */
export const DELTA_TYPES = ["fossil"] as const;
export type DeltaType = (typeof DELTA_TYPES)[number];

/** One option this product serves: its schema in the file, and what a bad value is told it must be. */
interface OptionSpec {
  schema: TSchema;
  expect: string;
}

const bool: OptionSpec = { schema: Type.Boolean(), expect: "true or false" };

/**
 * The channel options this product serves, with Centrifugo's names and meanings (a namespace's
 * options, or `without_namespace`'s). Every one is off (false, 0, empty) unless the file sets it:
 * as in Centrifugo, a namespace inherits nothing.
 */
export const OPTIONS = {
  // history and recovery
  history_size: { schema: Type.Integer({ minimum: 0, maximum: MAX_HISTORY_SIZE }), expect: `a whole number from 0 to ${MAX_HISTORY_SIZE}` },
  history_ttl: { schema: Type.String({ pattern: GO_DURATION_PATTERN, maxLength: 64 }), expect: 'a duration like "300s"' },
  force_recovery: bool,
  allow_recovery: bool,
  force_positioning: bool,
  allow_positioning: bool,
  // presence
  presence: bool,
  join_leave: bool,
  force_push_join_leave: bool,
  // permissions
  allow_subscribe_for_client: bool,
  allow_subscribe_for_anonymous: bool,
  allow_publish_for_subscriber: bool,
  allow_publish_for_client: bool,
  allow_publish_for_anonymous: bool,
  allow_history_for_subscriber: bool,
  allow_history_for_client: bool,
  allow_history_for_anonymous: bool,
  allow_presence_for_subscriber: bool,
  allow_presence_for_client: bool,
  allow_presence_for_anonymous: bool,
  // names
  allow_user_limited_channels: bool,
  channel_regex: { schema: Type.String({ maxLength: MAX_REGEX_LENGTH }), expect: `a regular expression (a string of at most ${MAX_REGEX_LENGTH} characters)` },
  // proxies (asked over NATS)
  subscribe_proxy_enabled: bool,
  publish_proxy_enabled: bool,
  sub_refresh_proxy_enabled: bool,
  // deltas
  allowed_delta_types: { schema: Type.Array(Type.Union(DELTA_TYPES.map((t) => Type.Literal(t))), { maxItems: 8 }), expect: 'a list of delta types: ["fossil"]' },
  delta_publish: bool,
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** Each option's schema, optional. */
const optionProperties = Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, Type.Optional(v.schema)])) as {
  [K in OptionName]: ReturnType<typeof Type.Optional<(typeof OPTIONS)[K]["schema"]>>;
};

/** The options of one namespace as a file writes them (every one optional). */
export const ChannelOptionsFile = Type.Object(optionProperties, { additionalProperties: false });
export type ChannelOptionsFile = Static<typeof ChannelOptionsFile>;

/** Namespace names: `^[A-Za-z0-9_.-]{1,64}$`. */
export const NAMESPACE_NAME_PATTERN = "^[A-Za-z0-9_.-]{1,64}$";

/** One entry of `channel.namespaces`: a name and its options. */
export const NamespaceFile = Type.Object({ name: Type.String({ pattern: NAMESPACE_NAME_PATTERN }), ...optionProperties }, { additionalProperties: false });
export type NamespaceFile = Static<typeof NamespaceFile>;

/** The `channel` section: Centrifugo v6's shape. */
export const ChannelSectionFile = Type.Object(
  { namespaces: Type.Optional(Type.Array(NamespaceFile)), without_namespace: Type.Optional(ChannelOptionsFile) },
  { additionalProperties: false },
);

/** A CHANNELS_FILE: a JSON object whose `channel` is the `channel` section of a Centrifugo v6 configuration. */
export const ChannelsFile = Type.Object({ channel: ChannelSectionFile }, { additionalProperties: false });
export type ChannelsFile = Static<typeof ChannelsFile>;

/** The options of a namespace, resolved: every option set (Centrifugo's names; `history_ttl` in ms, the regex compiled). */
export interface ChannelOptions {
  readonly history_size: number;
  readonly history_ttl_ms: number;
  readonly force_recovery: boolean;
  readonly allow_recovery: boolean;
  readonly force_positioning: boolean;
  readonly allow_positioning: boolean;
  readonly presence: boolean;
  readonly join_leave: boolean;
  readonly force_push_join_leave: boolean;
  readonly allow_subscribe_for_client: boolean;
  readonly allow_subscribe_for_anonymous: boolean;
  readonly allow_publish_for_subscriber: boolean;
  readonly allow_publish_for_client: boolean;
  readonly allow_publish_for_anonymous: boolean;
  readonly allow_history_for_subscriber: boolean;
  readonly allow_history_for_client: boolean;
  readonly allow_history_for_anonymous: boolean;
  readonly allow_presence_for_subscriber: boolean;
  readonly allow_presence_for_client: boolean;
  readonly allow_presence_for_anonymous: boolean;
  readonly allow_user_limited_channels: boolean;
  readonly channel_regex: RegExp | undefined;
  readonly subscribe_proxy_enabled: boolean;
  readonly publish_proxy_enabled: boolean;
  readonly sub_refresh_proxy_enabled: boolean;
  readonly allowed_delta_types: readonly DeltaType[];
  readonly delta_publish: boolean;
}

/** Every option off: a namespace the file names with nothing else. */
export const NO_OPTIONS: ChannelOptions = Object.freeze({
  history_size: 0,
  history_ttl_ms: 0,
  force_recovery: false,
  allow_recovery: false,
  force_positioning: false,
  allow_positioning: false,
  presence: false,
  join_leave: false,
  force_push_join_leave: false,
  allow_subscribe_for_client: false,
  allow_subscribe_for_anonymous: false,
  allow_publish_for_subscriber: false,
  allow_publish_for_client: false,
  allow_publish_for_anonymous: false,
  allow_history_for_subscriber: false,
  allow_history_for_client: false,
  allow_history_for_anonymous: false,
  allow_presence_for_subscriber: false,
  allow_presence_for_client: false,
  allow_presence_for_anonymous: false,
  allow_user_limited_channels: false,
  channel_regex: undefined,
  subscribe_proxy_enabled: false,
  publish_proxy_enabled: false,
  sub_refresh_proxy_enabled: false,
  allowed_delta_types: [],
  delta_publish: false,
});

/** True when channels with these options keep history (both a size and a TTL, as Centrifugo requires). */
export const hasHistory = (o: ChannelOptions): boolean => o.history_size > 0 && o.history_ttl_ms > 0;

const off = (v: unknown): boolean => v === false;
const empty = (v: unknown): boolean => v === "";
const zeroDuration = (v: unknown): boolean => v === "" || (typeof v === "string" && parseGoDuration(v) === 0);
const defaultProxy = (v: unknown): boolean => v === "" || v === "default";
const emptyObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
const emptyList = (v: unknown): boolean => Array.isArray(v) && v.length === 0;

/**
 * Channel options Centrifugo v6 has (its PRO edition's included) that this product does not serve
 * yet. One set to anything but its own "off" value is refused (`not supported: <option>`), never
 * ignored; set to that value it asks for nothing, so a copied block that spells every option out
 * still loads. The test says whether a value is that "off" value.
 */
export const NOT_SUPPORTED: Readonly<Record<string, (value: unknown) => boolean>> = {
  history_meta_ttl: zeroDuration,
  force_recovery_mode: (v) => v === "" || v === "stream",
  auto_cache_recovery: off,
  allow_tags_filter: off,
  publication_data_format: empty,
  subscribe_proxy_name: defaultProxy,
  publish_proxy_name: defaultProxy,
  sub_refresh_proxy_name: defaultProxy,
  subscribe_stream_proxy_enabled: off,
  subscribe_stream_proxy_name: defaultProxy,
  subscribe_stream_proxy_bidirectional: off,
  subscription_type: (v) => v === "" || v === "stream",
  map: emptyObject,
  shared_poll: emptyObject,
  map_clients_presence_channel_prefix: empty,
  map_users_presence_channel_prefix: empty,
  // Centrifugo PRO
  cache_empty_proxy_enabled: off,
  cache_empty_proxy_name: defaultProxy,
  state_proxy_enabled: off,
  state_events: emptyList,
  shared_position_sync: off,
  subscribe_cel: empty,
  publish_cel: empty,
  history_cel: empty,
  presence_cel: empty,
  batch_max_size: (v) => v === 0,
  batch_max_delay: zeroDuration,
  batch_flush_latest: off,
  allow_channel_compaction: off,
};

/**
 * Keys of Centrifugo's `channel` section beside `namespaces` and `without_namespace`, with the value
 * this product behaves as (any other is `not supported`).
 */
export const SECTION_NOT_SUPPORTED: Readonly<Record<string, (value: unknown) => boolean>> = {
  history_meta_ttl: (v) => typeof v === "string" && parseGoDuration(v) === MAX_HISTORY_TTL_MS * 1e6,
  max_length: (v) => v === 255,
  private_prefix: (v) => v === "$",
  namespace_boundary: (v) => v === ":",
  user_boundary: (v) => v === "#",
  user_separator: (v) => v === ",",
  publication_data_format: empty,
  proxy: emptyObject,
};
