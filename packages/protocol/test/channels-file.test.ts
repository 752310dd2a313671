import { expect, test } from "bun:test";
import { Compile } from "typebox/compile";
import {
  ChannelsFile, NOT_SUPPORTED, NO_OPTIONS, OPTIONS, builtInChat, defaultNamespaces, parseChannelsFile, parseGoDuration, readChannels,
  type ChannelOptions, type LoadedChannels,
} from "../src/channels/index.ts";

const history = { size: 100, ttlMs: 86_400_000 };
const problemsOf = (r: LoadedChannels): string[] => (r.ok ? [] : r.problems);
const loaded = (r: LoadedChannels) => {
  if (!r.ok) throw new Error(`expected the file to load:\n${r.problems.join("\n")}`);
  return r.namespaces;
};

test("without a file: the built-in chat only, as the product always served it", () => {
  const ns = defaultNamespaces({ size: 7, ttlMs: 90_000 });
  expect(ns.withoutNamespace).toBeUndefined();
  expect(ns.all().map((n) => n.name)).toEqual(["chat"]);
  const chat = ns.get("chat")!;
  expect(chat.rooms).toBe(true);
  expect(chat.options).toEqual({
    ...NO_OPTIONS,
    history_size: 7,
    history_ttl_ms: 90_000,
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
  });
});

test("a file that sets every option this product serves loads them with Centrifugo's meanings, and fits the ChannelsFile schema", () => {
  const file = {
    channel: {
      without_namespace: { presence: true, allow_subscribe_for_client: true },
      namespaces: [
        {
          name: "orders",
          history_size: 50,
          history_ttl: "1m30s",
          force_recovery: true,
          allow_recovery: true,
          force_positioning: true,
          allow_positioning: true,
          presence: true,
          join_leave: true,
          force_push_join_leave: true,
          allow_subscribe_for_client: true,
          allow_subscribe_for_anonymous: true,
          allow_publish_for_subscriber: true,
          allow_publish_for_client: true,
          allow_publish_for_anonymous: true,
          allow_history_for_subscriber: true,
          allow_history_for_client: true,
          allow_history_for_anonymous: true,
          allow_presence_for_subscriber: true,
          allow_presence_for_client: true,
          allow_presence_for_anonymous: true,
          allow_user_limited_channels: true,
          channel_regex: "^[a-z0-9#,]+$",
          subscribe_proxy_enabled: true,
          publish_proxy_enabled: true,
          sub_refresh_proxy_enabled: true,
          allowed_delta_types: ["fossil"],
          delta_publish: true,
        },
        { name: "bare" },
      ],
    },
  };
  expect(Object.keys(file.channel.namespaces[0]!).filter((k) => k !== "name").sort()).toEqual(Object.keys(OPTIONS).sort()); // the test covers every option
  expect(Compile(ChannelsFile).Check(file)).toBe(true);
  const ns = loaded(readChannels(file, history));
  const orders = ns.get("orders")!.options;
  const { channel_regex, ...rest } = orders;
  expect(channel_regex?.source).toBe("^[a-z0-9#,]+$");
  const expected: Omit<ChannelOptions, "channel_regex"> = {
    history_size: 50,
    history_ttl_ms: 90_000,
    force_recovery: true,
    allow_recovery: true,
    force_positioning: true,
    allow_positioning: true,
    presence: true,
    join_leave: true,
    force_push_join_leave: true,
    allow_subscribe_for_client: true,
    allow_subscribe_for_anonymous: true,
    allow_publish_for_subscriber: true,
    allow_publish_for_client: true,
    allow_publish_for_anonymous: true,
    allow_history_for_subscriber: true,
    allow_history_for_client: true,
    allow_history_for_anonymous: true,
    allow_presence_for_subscriber: true,
    allow_presence_for_client: true,
    allow_presence_for_anonymous: true,
    allow_user_limited_channels: true,
    subscribe_proxy_enabled: true,
    publish_proxy_enabled: true,
    sub_refresh_proxy_enabled: true,
    allowed_delta_types: ["fossil"],
    delta_publish: true,
  };
  expect(rest).toEqual(expected);
  expect(ns.get("bare")!.options).toEqual(NO_OPTIONS); // nothing is inherited
  expect(ns.withoutNamespace!.options).toEqual({ ...NO_OPTIONS, presence: true, allow_subscribe_for_client: true });
  expect(ns.get("chat")).toEqual(builtInChat(history)); // a file that omits chat gets the built-in one
});

test("a file's chat replaces the built-in one and stays the /chat/ rooms", () => {
  const ns = loaded(readChannels({ channel: { namespaces: [{ name: "chat", allow_subscribe_for_client: true }] } }, history));
  expect(ns.get("chat")).toEqual({ name: "chat", rooms: true, options: { ...NO_OPTIONS, allow_subscribe_for_client: true } });
  expect(ns.all().length).toBe(1);
});

test("every problem of a file in one run, one line each, naming the namespace and the option as written", () => {
  const file = {
    server: { port: 8000 },
    channel: {
      max_length: 300,
      private_prefix: "$",
      histroy: 1,
      without_namespace: { presense: true, allow_publish_for_client: "yes" },
      namespaces: [
        { name: "orders", history_ttl: 5, history_size: 10, "Allow Publish": true },
        { name: "a b", presence: true },
        { name: "orders" },
        { history_size: 1, history_ttl: "1s" },
        "chat",
        { name: "system" },
        { name: "x", history_size: 10 },
        { name: "y", history_ttl: "10s" },
        { name: "z", history_size: 10, history_ttl: "1.5s" },
        { name: "w", history_size: 10, history_ttl: "721h" },
        { name: "v", force_recovery: true, force_positioning: true, allow_recovery: true },
        { name: "u", force_push_join_leave: true },
        { name: "t", channel_regex: "([a-z" },
        { name: "s", allowed_delta_types: ["xdelta"], history_size: -1, presence: 1 },
        { name: "chat", allow_user_limited_channels: true },
        { name: "p", subscribe_stream_proxy_enabled: true, force_recovery_mode: "cache", history_meta_ttl: "1000h", subscribe_cel: "true", allow_tags_filter: true },
        { name: "q", subscribe_proxy_name: "auth" },
      ],
    },
  };
  expect(problemsOf(readChannels(file, history))).toEqual([
    'server: only the "channel" section is read from this file',
    "channel: not supported: max_length",
    "channel: unknown option: histroy",
    "without_namespace: unknown option: presense",
    'without_namespace: allow_publish_for_client: must be true or false, got "yes"',
    'namespace "orders": history_ttl: must be a duration like "300s", got 5',
    'namespace "orders": unknown option: "Allow Publish"',
    'namespaces[1]: name: must match ^[A-Za-z0-9_.-]{1,64}$, got "a b"',
    'namespace "orders": duplicate namespace (namespaces[0] and namespaces[2])',
    "namespaces[3]: name: missing",
    'namespaces[4]: must be an object with a "name" and options, got "chat"',
    'namespace "system": name: reserved (system:monitor is built in)',
    'namespace "x": history_ttl: must be set too when history_size is (history needs both)',
    'namespace "y": history_size: must be set too when history_ttl is (history needs both)',
    'namespace "z": history_ttl: must be whole seconds, got "1.5s"',
    'namespace "w": history_ttl: must be at most 720h (Centrifugo\'s history_meta_ttl), got "721h"',
    'namespace "v": force_recovery: needs history (history_size and history_ttl)',
    'namespace "v": force_positioning: needs history (history_size and history_ttl)',
    'namespace "u": force_push_join_leave: needs join_leave',
    expect.stringMatching(/^namespace "t": channel_regex: must be a regular expression: \S/),
    'namespace "s": allowed_delta_types: must be a list of delta types: ["fossil"], got ["xdelta"]',
    'namespace "s": history_size: must be a whole number from 0 to 100000, got -1',
    'namespace "s": presence: must be true or false, got 1',
    'namespace "chat": allow_user_limited_channels: chat channels are /chat/ rooms, whose ids hold no "#" or ","',
    'namespace "p": not supported: subscribe_stream_proxy_enabled',
    'namespace "p": not supported: force_recovery_mode',
    'namespace "p": not supported: history_meta_ttl',
    'namespace "p": not supported: subscribe_cel',
    'namespace "p": not supported: allow_tags_filter',
    'namespace "q": not supported: subscribe_proxy_name',
  ]);
});

test("the file's frame: not JSON, not an object, no channel section, namespaces not a list", () => {
  expect(problemsOf(parseChannelsFile("{", history))).toEqual([expect.stringMatching(/^not valid JSON: /)]);
  expect(problemsOf(parseChannelsFile("[]", history))).toEqual(['must be a JSON object with a "channel" object, got []']);
  expect(problemsOf(parseChannelsFile("{}", history))).toEqual(['channel: must be an object (Centrifugo\'s "channel" section), got nothing']);
  expect(problemsOf(readChannels({ channel: { namespaces: { name: "a" } } }, history))).toEqual(['channel.namespaces: must be a list of namespaces, got {"name":"a"}']);
  expect(problemsOf(readChannels({ channel: { without_namespace: true } }, history))).toEqual(["without_namespace: must be an object of channel options, got true"]);
  expect(problemsOf(readChannels({ channel: { namespaces: [{ name: "a", "bad\nkey": 1, __proto__x: 1 }] } }, history))).toEqual([
    'namespace "a": unknown option: "bad\\nkey"',
    'namespace "a": unknown option: __proto__x',
  ]);
  expect(readChannels({ channel: {} }, history).ok).toBe(true);
});

test("names of Object.prototype are unknown options wherever a file's keys are looked up, never taken for options nor a crash", () => {
  const names = ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf", "isPrototypeOf", "__defineGetter__"];
  const keys = names.map((k) => `"${k}":1`).join(",");
  const text = `{"channel":{${keys},"without_namespace":{${keys}},"namespaces":[{"name":"n",${keys}}]}}`;
  const shown = (k: string) => (/^[A-Za-z0-9_]+$/.test(k) ? k : JSON.stringify(k));
  expect(problemsOf(parseChannelsFile(text, history))).toEqual([
    ...names.map((k) => `channel: unknown option: ${shown(k)}`),
    ...names.map((k) => `without_namespace: unknown option: ${shown(k)}`),
    ...names.map((k) => `namespace "n": unknown option: ${shown(k)}`),
  ]);
});

test("a file wrong everywhere is reported up to 200 lines and a count", () => {
  const namespaces = Array.from({ length: 250 }, (_, i) => ({ name: `n${i}`, bogus: true }));
  const problems = problemsOf(readChannels({ channel: { namespaces } }, history));
  expect(problems.length).toBe(201);
  expect(problems.at(-1)).toBe("... and 50 more problems");
});

test("every channel option Centrifugo v6 has is either served or refused as not supported, never unknown", () => {
  // The option names of Centrifugo v6's ChannelOptions (its configtypes) and the PRO edition's documented ones.
  const centrifugo = [
    "presence", "join_leave", "force_push_join_leave", "map_clients_presence_channel_prefix", "map_users_presence_channel_prefix",
    "history_size", "history_ttl", "history_meta_ttl", "force_positioning", "allow_positioning", "force_recovery", "allow_recovery",
    "force_recovery_mode", "auto_cache_recovery", "allowed_delta_types", "allow_tags_filter", "delta_publish",
    "allow_subscribe_for_anonymous", "allow_subscribe_for_client", "allow_publish_for_anonymous", "allow_publish_for_subscriber",
    "allow_publish_for_client", "allow_presence_for_anonymous", "allow_presence_for_subscriber", "allow_presence_for_client",
    "allow_history_for_anonymous", "allow_history_for_subscriber", "allow_history_for_client", "allow_user_limited_channels",
    "channel_regex", "publication_data_format", "subscribe_proxy_enabled", "subscribe_proxy_name", "publish_proxy_enabled",
    "publish_proxy_name", "sub_refresh_proxy_enabled", "sub_refresh_proxy_name", "subscribe_stream_proxy_enabled",
    "subscribe_stream_proxy_name", "subscribe_stream_proxy_bidirectional", "subscription_type", "map", "shared_poll",
    "cache_empty_proxy_enabled", "cache_empty_proxy_name", "state_proxy_enabled", "state_events", "shared_position_sync",
    "subscribe_cel", "publish_cel", "history_cel", "presence_cel", "batch_max_size", "batch_max_delay", "batch_flush_latest",
    "allow_channel_compaction",
  ];
  const unknown = centrifugo.filter((k) => !Object.hasOwn(OPTIONS, k) && !Object.hasOwn(NOT_SUPPORTED, k));
  expect(unknown).toEqual([]);
  // One of them set to something: refused by name.
  for (const k of Object.keys(NOT_SUPPORTED)) {
    expect(problemsOf(readChannels({ channel: { namespaces: [{ name: "n", [k]: "on" }] } }, history))).toEqual([`namespace "n": not supported: ${k}`]);
  }
});

test("a not-supported option at its own off value asks for nothing and loads, so a block that spells every option out still loads", () => {
  const spelled = {
    name: "full",
    history_meta_ttl: "0s",
    force_recovery_mode: "stream",
    auto_cache_recovery: false,
    allow_tags_filter: false,
    publication_data_format: "",
    subscribe_proxy_name: "default",
    publish_proxy_name: "",
    sub_refresh_proxy_name: "default",
    subscribe_stream_proxy_enabled: false,
    subscribe_stream_proxy_name: "",
    subscribe_stream_proxy_bidirectional: false,
    subscription_type: "stream",
    map: {},
    shared_poll: {},
    batch_max_size: 0,
    state_events: [],
  };
  const section = { history_meta_ttl: "720h", max_length: 255, private_prefix: "$", namespace_boundary: ":", user_boundary: "#", user_separator: ",", proxy: {}, namespaces: [spelled] };
  expect(loaded(readChannels({ channel: section }, history)).get("full")!.options).toEqual(NO_OPTIONS);
});

test("Go durations as Centrifugo writes them", () => {
  const s = 1e9;
  expect(parseGoDuration("300s")).toBe(300 * s);
  expect(parseGoDuration("24h")).toBe(86_400 * s);
  expect(parseGoDuration("1m30s")).toBe(90 * s);
  expect(parseGoDuration("1.5h")).toBe(5400 * s);
  expect(parseGoDuration(".5s")).toBe(0.5 * s);
  expect(parseGoDuration("250ms")).toBe(0.25 * s);
  expect(parseGoDuration("2us")).toBe(2000);
  expect(parseGoDuration("2µs")).toBe(2000);
  expect(parseGoDuration("0")).toBe(0);
  expect(parseGoDuration("0s")).toBe(0);
  for (const bad of ["", "5", "-1s", "+1s", "1d", "s", "1 s", "1s ", "1.s.s", "abc"]) expect([bad, parseGoDuration(bad)]).toEqual([bad, undefined]);
});
