import { Compile } from "typebox/compile";
import { formatGoDuration, parseGoDuration } from "./duration.ts";
import {
  MAX_HISTORY_TTL_MS, NAMESPACE_NAME_PATTERN, NOT_SUPPORTED, NO_OPTIONS, OPTIONS, SECTION_NOT_SUPPORTED, hasHistory,
  type ChannelOptions, type DeltaType, type OptionName,
} from "./options.ts";

/** The namespace whose channels are the rooms of `/chat/{room}` (built in; a file may set its options). */
export const CHAT_NAMESPACE = "chat";
/** Reserved: `system:monitor` is built in, and no other `system:` channel exists. */
const RESERVED_NAMESPACES: ReadonlySet<string> = new Set(["system"]);

/** One namespace: the channels `<name>:…` (or, for name "", the channels without a namespace) and their options. */
export interface Namespace {
  /** "" for `without_namespace`. */
  readonly name: string;
  readonly options: ChannelOptions;
  /** Its channels are also `/chat/{room}` rooms: the name after `chat:` must be a room id. */
  readonly rooms: boolean;
}

/** What the built-in `chat` keeps: ROOM_HISTORY_SIZE and ROOM_HISTORY_TTL. */
export interface RoomHistory {
  size: number;
  ttlMs: number;
}

/**
 * The built-in `chat` namespace, as the product always served it: history of `history.size` for
 * `history.ttlMs`, every subscription recoverable and positioned, presence and join/leave (pushed to
 * those who ask), every connected client (anonymous ones too) may subscribe and read history,
 * subscribers publish and read presence.
 */
export function builtInChat(history: RoomHistory): Namespace {
  return {
    name: CHAT_NAMESPACE,
    rooms: true,
    options: Object.freeze({
      ...NO_OPTIONS,
      history_size: history.size,
      history_ttl_ms: history.ttlMs,
      force_recovery: true,
      allow_recovery: true,
      force_positioning: true,
      allow_positioning: true,
      presence: true,
      join_leave: true,
      allow_subscribe_for_client: true,
      allow_subscribe_for_anonymous: true,
      allow_publish_for_subscriber: true,
      allow_publish_for_anonymous: true,
      allow_history_for_client: true,
      allow_history_for_subscriber: true,
      allow_history_for_anonymous: true,
      allow_presence_for_subscriber: true,
      allow_presence_for_anonymous: true,
    }),
  };
}

/** The namespaces a gateway and the notifier serve: the file's (or none) and always a `chat`. */
export class ChannelNamespaces {
  private readonly byName: ReadonlyMap<string, Namespace>;

  constructor(namespaces: readonly Namespace[], readonly withoutNamespace: Namespace | undefined) {
    this.byName = new Map(namespaces.map((n) => [n.name, n]));
  }

  /** The namespace `name` (before the first `:`), or undefined when none is configured by that name. */
  get(name: string): Namespace | undefined {
    return this.byName.get(name);
  }

  /** Every namespace, `without_namespace` last when configured. */
  all(): Namespace[] {
    return [...this.byName.values(), ...(this.withoutNamespace ? [this.withoutNamespace] : [])];
  }
}

/** The namespaces without a CHANNELS_FILE: the built-in `chat` only (channels without a namespace are unknown). */
export function defaultNamespaces(history: RoomHistory): ChannelNamespaces {
  return new ChannelNamespaces([builtInChat(history)], undefined);
}

/** A channels file read: the namespaces, or every problem found, one line each. */
export type LoadedChannels = { ok: true; namespaces: ChannelNamespaces } | { ok: false; problems: string[] };

/** Problems reported at most (a file that is wrong everywhere gets this many lines and a count). */
const MAX_PROBLEMS = 200;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A value as a problem line quotes it (JSON, cut short). */
function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A key as written in the file; quoted only when it holds something that would break the line. */
const key = (k: string): string => (/^[\x21-\x7e]+$/.test(k) ? k : JSON.stringify(k));

const optionChecks = Object.fromEntries(Object.entries(OPTIONS).map(([k, v]) => [k, Compile(v.schema)])) as Record<OptionName, ReturnType<typeof Compile>>;
const NAME = new RegExp(NAMESPACE_NAME_PATTERN);

/**
 * Parses a CHANNELS_FILE's text: a JSON object whose `channel` has the shape of Centrifugo v6's
 * `channel` section (`namespaces: [{name, ...options}]`, `without_namespace: {...options}`). Every
 * problem is reported, one line each, naming the namespace and the option as written: an unknown
 * option, a bad value, a bad or duplicate name, an option Centrifugo has and this product does not
 * serve (`not supported: <option>`), and Centrifugo's own rules between options. A file without
 * `chat` gets the built-in one (`history`: ROOM_HISTORY_SIZE and ROOM_HISTORY_TTL).
 */
export function parseChannelsFile(text: string, history: RoomHistory): LoadedChannels {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`not valid JSON: ${err instanceof Error ? err.message : String(err)}`] };
  }
  return readChannels(value, history);
}

/** As parseChannelsFile, from the parsed JSON value. */
export function readChannels(value: unknown, history: RoomHistory): LoadedChannels {
  const problems: string[] = [];
  const namespaces: Namespace[] = [];
  let withoutNamespace: Namespace | undefined;
  if (!isObject(value)) return { ok: false, problems: [`must be a JSON object with a "channel" object, got ${show(value)}`] };
  for (const k of Object.keys(value)) if (k !== "channel") problems.push(`${key(k)}: only the "channel" section is read from this file`);
  const section = value.channel;
  if (!isObject(section)) {
    problems.push(`channel: must be an object (Centrifugo's "channel" section), got ${show(section)}`);
    return finish(problems, namespaces, withoutNamespace, history);
  }
  for (const [k, v] of Object.entries(section)) {
    if (k === "namespaces" || k === "without_namespace") continue;
    const accepts = Object.hasOwn(SECTION_NOT_SUPPORTED, k) ? SECTION_NOT_SUPPORTED[k] : undefined;
    if (accepts === undefined) problems.push(`channel: unknown option: ${key(k)}`);
    else if (!accepts(v)) problems.push(`channel: not supported: ${key(k)}`);
  }
  if (section.without_namespace !== undefined) {
    if (!isObject(section.without_namespace)) problems.push(`without_namespace: must be an object of channel options, got ${show(section.without_namespace)}`);
    else withoutNamespace = { name: "", rooms: false, options: readOptions(section.without_namespace, "without_namespace", false, problems) };
  }
  const list = section.namespaces;
  if (list !== undefined && !Array.isArray(list)) problems.push(`channel.namespaces: must be a list of namespaces, got ${show(list)}`);
  const seen = new Map<string, number>();
  for (const [i, entry] of (Array.isArray(list) ? list : []).entries()) {
    if (!isObject(entry)) {
      problems.push(`namespaces[${i}]: must be an object with a "name" and options, got ${show(entry)}`);
      continue;
    }
    const name = entry.name;
    const goodName = typeof name === "string" && NAME.test(name);
    const label = goodName ? `namespace ${JSON.stringify(name)}` : `namespaces[${i}]`;
    if (name === undefined) problems.push(`${label}: name: missing`);
    else if (!goodName) problems.push(`${label}: name: must match ${NAMESPACE_NAME_PATTERN}, got ${show(name)}`);
    else if (RESERVED_NAMESPACES.has(name)) problems.push(`${label}: name: reserved (system:monitor is built in)`);
    else if (seen.has(name)) problems.push(`${label}: duplicate namespace (namespaces[${seen.get(name)}] and namespaces[${i}])`);
    const { name: _, ...options } = entry;
    const rooms = name === CHAT_NAMESPACE;
    const resolved = readOptions(options, label, rooms, problems);
    if (goodName && !seen.has(name)) {
      seen.set(name, i);
      namespaces.push({ name, rooms, options: resolved });
    }
  }
  return finish(problems, namespaces, withoutNamespace, history);
}

function finish(problems: string[], namespaces: Namespace[], withoutNamespace: Namespace | undefined, history: RoomHistory): LoadedChannels {
  if (problems.length > MAX_PROBLEMS) return { ok: false, problems: [...problems.slice(0, MAX_PROBLEMS), `... and ${problems.length - MAX_PROBLEMS} more problems`] };
  if (problems.length > 0) return { ok: false, problems };
  if (!namespaces.some((n) => n.name === CHAT_NAMESPACE)) namespaces.unshift(builtInChat(history));
  return { ok: true, namespaces: new ChannelNamespaces(namespaces, withoutNamespace) };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One namespace's options: each checked alone, then Centrifugo's rules between them. */
function readOptions(raw: Record<string, unknown>, label: string, rooms: boolean, problems: string[]): ChannelOptions {
  const o: Mutable<ChannelOptions> = { ...NO_OPTIONS };
  /** Options already reported bad: the rules between options stay quiet about them. */
  const bad = new Set<string>();
  const report = (option: string, problem: string): void => {
    bad.add(option);
    problems.push(`${label}: ${problem}`);
  };
  for (const [k, v] of Object.entries(raw)) {
    if (Object.hasOwn(OPTIONS, k)) {
      const name = k as OptionName;
      if (optionChecks[name].Check(v)) apply(o, name, v, (problem) => report(k, `${k}: ${problem}`));
      else report(k, `${k}: must be ${OPTIONS[name].expect}, got ${show(v)}`);
    } else if (Object.hasOwn(NOT_SUPPORTED, k)) {
      if (!NOT_SUPPORTED[k]!(v)) report(k, `not supported: ${k}`);
    } else report(k, `unknown option: ${key(k)}`);
  }
  // Centrifugo's rules between options (its configuration check and the options' documentation).
  const quiet = bad.has("history_size") || bad.has("history_ttl");
  if (!quiet && o.history_size > 0 && o.history_ttl_ms === 0) problems.push(`${label}: history_ttl: must be set too when history_size is (history needs both)`);
  if (!quiet && o.history_ttl_ms > 0 && o.history_size === 0) problems.push(`${label}: history_size: must be set too when history_ttl is (history needs both)`);
  if (!quiet && !hasHistory(o)) {
    if (o.force_recovery) problems.push(`${label}: force_recovery: needs history (history_size and history_ttl)`);
    if (o.force_positioning) problems.push(`${label}: force_positioning: needs history (history_size and history_ttl)`);
  }
  if (o.force_push_join_leave && !o.join_leave && !bad.has("join_leave")) problems.push(`${label}: force_push_join_leave: needs join_leave`);
  if (rooms && o.allow_user_limited_channels) problems.push(`${label}: allow_user_limited_channels: chat channels are /chat/ rooms, whose ids hold no "#" or ","`);
  return Object.freeze(o);
}

/** Sets one checked option (durations and the regex are read further; a problem leaves the option off). */
function apply(o: Mutable<ChannelOptions>, name: OptionName, v: unknown, fail: (problem: string) => void): void {
  switch (name) {
    case "history_ttl": {
      const ns = parseGoDuration(v as string)!;
      if (ns % 1e9 !== 0) fail(`must be whole seconds, got ${show(v)}`);
      else if (ns / 1e6 > MAX_HISTORY_TTL_MS) fail(`must be at most ${formatGoDuration(MAX_HISTORY_TTL_MS)} (Centrifugo's history_meta_ttl), got ${show(v)}`);
      else o.history_ttl_ms = ns / 1e6;
      return;
    }
    case "channel_regex": {
      if (v === "") return;
      try {
        o.channel_regex = new RegExp(v as string);
      } catch (err) {
        fail(`must be a regular expression: ${err instanceof Error ? err.message : String(err)}`);
      }
      return;
    }
    case "allowed_delta_types":
      o.allowed_delta_types = [...new Set(v as DeltaType[])];
      return;
    default:
      (o as Record<string, unknown>)[name] = v;
  }
}
