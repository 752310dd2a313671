export { GO_DURATION_PATTERN, parseGoDuration, formatGoDuration } from "./duration.ts";
export {
  OPTIONS, NOT_SUPPORTED, SECTION_NOT_SUPPORTED, NO_OPTIONS, DELTA_TYPES, MAX_HISTORY_SIZE, MAX_HISTORY_TTL_MS, NAMESPACE_NAME_PATTERN,
  ChannelOptionsFile, NamespaceFile, ChannelSectionFile, ChannelsFile, hasHistory,
  type ChannelOptions, type DeltaType, type OptionName,
} from "./options.ts";
export {
  CHAT_NAMESPACE, ChannelNamespaces, builtInChat, defaultNamespaces, parseChannelsFile, readChannels,
  type LoadedChannels, type Namespace, type RoomHistory,
} from "./namespaces.ts";
export {
  MONITOR_CHANNEL, MAX_CHANNEL_LENGTH, PRIVATE_PREFIX, channelRegexMatches, legacyRef, namespaceOf, parseChannel, resolveChannel,
  type ChannelName, type ChannelRef,
} from "./names.ts";
export {
  ChannelPolicy, checkChannel, isDeltaType, subscriptionFeatures,
  type Action, type Actor, type Decision, type DenyCode, type ProxyKind, type ServedChannel, type SubscribeAsk, type SubscriptionFeatures, type SubscriptionOverride,
} from "./policy.ts";
