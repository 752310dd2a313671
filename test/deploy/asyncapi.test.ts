// docs/asyncapi.yaml: generated from the schemas the services validate with, a valid AsyncAPI 3.0 document, and complete.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Parser } from "@asyncapi/parser";
import { API_METHODS, CATALOG, GATEWAY_API_METHODS, GATEWAY_CONTROL_OPS, centrifugo } from "@rt/protocol";
import * as subjects from "../../packages/protocol/src/subjects.ts";
import { asyncApiDocument, asyncApiYaml } from "../../scripts/lib/asyncapi.ts";
import { plain } from "../../scripts/lib/openapi.ts";

const ROOT = resolve(import.meta.dir, "../..");
const TEXT = readFileSync(resolve(ROOT, "docs/asyncapi.yaml"), "utf8");

type Json = Record<string, unknown>;
interface Doc {
  channels: Record<string, { address: string | null; parameters?: Record<string, unknown>; messages: Record<string, { $ref: string }> }>;
  operations: Record<string, { action: string; channel: { $ref: string }; messages: Array<{ $ref: string }>; reply?: { channel: { $ref: string } } }>;
  components: { messages: Record<string, { payload: { schemaFormat: string; schema: Json } }> };
}
const doc = (): Doc => JSON.parse(JSON.stringify(asyncApiDocument())) as Doc;
const severities = async (text: string) => {
  const { diagnostics } = await new Parser().parse(text);
  const line = (d: (typeof diagnostics)[number]) => `${d.path.join("/")}: ${d.message} (${String(d.code)})`;
  return { errors: diagnostics.filter((d) => d.severity === 0).map(line), warnings: diagnostics.filter((d) => d.severity === 1).map(line), others: diagnostics.filter((d) => d.severity > 1).map((d) => String(d.code)) };
};

test("docs/asyncapi.yaml is what `bun run docs` writes from the schemas, and reads back as the same document (no anchors)", () => {
  expect(TEXT).toBe(asyncApiYaml());
  expect(Bun.YAML.parse(TEXT)).toEqual(doc());
  expect(TEXT).not.toMatch(/^\s*(- )?[&*][A-Za-z]/m);
});

test("@asyncapi/parser finds no error and no warning (only the note that 3.1.0 exists)", async () => {
  const { errors, warnings, others } = await severities(TEXT);
  expect(errors).toEqual([]);
  expect(warnings).toEqual([]);
  expect(others).toEqual(["asyncapi-latest-version"]);
});

test("the parser is not a rubber stamp: a broken document is refused", async () => {
  const wrongMessage = doc();
  wrongMessage.operations.gatewaySendPush!.messages = [{ $ref: "#/channels/wsChat/messages/ChatMessage" }];
  expect((await severities(Bun.YAML.stringify(wrongMessage, null, 2))).errors.length).toBeGreaterThan(0);
  const badSchema = doc();
  badSchema.components.messages.ChatMessage!.payload.schema.type = 12;
  expect((await severities(Bun.YAML.stringify(badSchema, null, 2))).errors.length).toBeGreaterThan(0);
});

test("every WebSocket endpoint and every kind of NATS subject is a channel", () => {
  const addresses = Object.values(doc().channels).map((c) => c.address);
  for (const address of [
    "/ws-chat", "/chat/{room_id}", "/system-monitor", "/notifications", "/connection/websocket",
    "chat.room.{room}", "chat.live.{room}", "rpc.{rpcMethod}", ...Object.values(subjects.PROXY_SUBJECTS), "metrics.host.{host}", "notify.user.{user}", "notify.live.{user}", "notify.delivered.{id}", "notify.answer.{dedupId}", "notifier.send",
    "gateway.heartbeat.{gateway}", "gateway.emulation.{gateway}", "presence.query.{room}", "presence.event.{room}", "presence.query.{ns}.{channel}", "presence.event.{ns}.{channel}",
    "chan.store.{ns}.{channel}", "chan.live.{ns}.{channel}", "chan.pub.{ns}.{channel}", "$JS.EVENT.ADVISORY.STREAM.{advisory}.{stream}", "$JS.API.STREAM.MSG.GET.{stream}",
    ...Object.keys(API_METHODS).map((m) => `api.${m}`), ...GATEWAY_API_METHODS.map((m) => `gateway.api.${m}`), ...GATEWAY_CONTROL_OPS.map((op) => `gateway.control.${op}`),
  ]) expect(addresses).toContain(address);
});

/** Sample subjects from every export of subjects.ts; an export that builds no subject says so (a new one must be classified here). */
const SAMPLES: Record<keyof typeof subjects, string[] | "not a subject"> = {
  NOTIFICATIONS_STREAM: "not a subject",
  NOTIFY_ANSWERS_STREAM: "not a subject",
  ROOMS_STREAM: "not a subject",
  GATEWAY_API_QUEUE: "not a subject",
  RPC_METHOD_PATTERN: "not a subject",
  roomFromSubject: "not a subject",
  hostFromSubject: "not a subject",
  channelFromPresenceSubject: "not a subject",
  streamOfStoreSubject: "not a subject",
  namespaceToken: "not a subject",
  namespaceStream: "not a subject",
  methodFromSubject: "not a subject",
  // Reply prefixes (`_INBOX_<service>.…`): replies go to whoever asked, no channel of the document.
  INBOX_PREFIX: "not a subject",
  REPLY_PREFIX: "not a subject",
  NOTIFY_USER_WILDCARD: [subjects.NOTIFY_USER_WILDCARD],
  NOTIFY_LIVE_PREFIX: [`${subjects.NOTIFY_LIVE_PREFIX}x`],
  NOTIFIER_SEND: [subjects.NOTIFIER_SEND],
  METRICS_WILDCARD: [subjects.METRICS_WILDCARD],
  ROOM_STORE_WILDCARD: [subjects.ROOM_STORE_WILDCARD],
  ROOM_LIVE_WILDCARD: [subjects.ROOM_LIVE_WILDCARD],
  roomSubject: [subjects.roomSubject("lobby")],
  roomLiveSubject: [subjects.roomLiveSubject("lobby")],
  rpcSubject: [subjects.rpcSubject("get_profile")],
  PROXY_SUBJECTS: Object.values(subjects.PROXY_SUBJECTS),
  PROXY_WILDCARD: Object.values(subjects.PROXY_SUBJECTS),
  userStoreSubject: [subjects.userStoreSubject("alice")],
  userLiveSubject: [subjects.userLiveSubject("auth0|用户")],
  deliveredSubject: [subjects.deliveredSubject("n1")],
  NOTIFY_ANSWER_WILDCARD: [subjects.NOTIFY_ANSWER_WILDCARD],
  answerSubject: [subjects.answerSubject("0".repeat(64))],
  metricsSubject: [subjects.metricsSubject("web-1")],
  streamAdvisorySubjects: [...subjects.streamAdvisorySubjects(subjects.ROOMS_STREAM), ...subjects.streamAdvisorySubjects(subjects.NOTIFICATIONS_STREAM)],
  streamLeaderElectedSubject: [subjects.streamLeaderElectedSubject(subjects.ROOMS_STREAM)],
  STREAM_LEADER_ELECTED_WILDCARD: [subjects.STREAM_LEADER_ELECTED_WILDCARD],
  GATEWAY_HEARTBEAT_PREFIX: [`${subjects.GATEWAY_HEARTBEAT_PREFIX}g1`],
  GATEWAY_HEARTBEAT_WILDCARD: [subjects.GATEWAY_HEARTBEAT_WILDCARD],
  gatewayHeartbeatSubject: [subjects.gatewayHeartbeatSubject("g1")],
  PRESENCE_QUERY_PREFIX: [`${subjects.PRESENCE_QUERY_PREFIX}lobby`],
  PRESENCE_QUERY_WILDCARD: [subjects.PRESENCE_QUERY_WILDCARD],
  PRESENCE_CHANNEL_QUERY_WILDCARD: [subjects.PRESENCE_CHANNEL_QUERY_WILDCARD],
  presenceQuerySubject: [subjects.presenceQuerySubject("chat:lobby"), subjects.presenceQuerySubject("orders:1"), subjects.presenceQuerySubject("news.v2:a.b*>")],
  presenceEventSubject: [subjects.presenceEventSubject("chat:lobby"), subjects.presenceEventSubject("orders:1"), subjects.presenceEventSubject("lobby")],
  channelStoreWildcard: [subjects.channelStoreWildcard("orders")],
  channelLiveWildcard: [subjects.channelLiveWildcard("orders")],
  channelStoreSubject: [subjects.channelStoreSubject("orders", "orders:1"), subjects.channelStoreSubject("", "board")],
  channelLiveSubject: [subjects.channelLiveSubject("orders", "orders:1")],
  channelPubSubject: [subjects.channelPubSubject("game", "game:lobby#a,b")],
  API_PREFIX: Object.keys(API_METHODS).map((m) => `${subjects.API_PREFIX}${m}`),
  API_WILDCARD: Object.keys(API_METHODS).map((m) => subjects.API_WILDCARD.replace("*", m)),
  GATEWAY_API_PREFIX: GATEWAY_API_METHODS.map((m) => `${subjects.GATEWAY_API_PREFIX}${m}`),
  GATEWAY_API_WILDCARD: GATEWAY_API_METHODS.map((m) => subjects.GATEWAY_API_WILDCARD.replace("*", m)),
  GATEWAY_CONTROL_PREFIX: GATEWAY_CONTROL_OPS.map((op) => `${subjects.GATEWAY_CONTROL_PREFIX}${op}`),
  GATEWAY_CONTROL_WILDCARD: GATEWAY_CONTROL_OPS.map((op) => subjects.GATEWAY_CONTROL_WILDCARD.replace("*", op)),
  GATEWAY_EMULATION_PREFIX: [`${subjects.GATEWAY_EMULATION_PREFIX}g1`],
  gatewayEmulationSubject: [subjects.gatewayEmulationSubject("g1")],
  methodSubject: [subjects.methodSubject(subjects.API_PREFIX, "info"), subjects.methodSubject(subjects.GATEWAY_API_PREFIX, "info"), subjects.methodSubject(subjects.GATEWAY_CONTROL_PREFIX, "info")],
};

test("every subject the protocol builds (subjects.ts, every export) falls on exactly one channel address", () => {
  expect(Object.keys(subjects).sort()).toEqual(Object.keys(SAMPLES).sort());
  const patterns = Object.values(doc().channels).flatMap((c) =>
    c.address === null ? [] : [new RegExp(`^${c.address.replace(/[.$]/g, "\\$&").replace(/\\\{\w+\\\}|\{\w+\}/g, "([^.*>]+|\\*)")}$`)],
  );
  for (const [name, samples] of Object.entries(SAMPLES)) {
    if (samples === "not a subject") continue;
    for (const subject of samples) expect({ name, subject, channels: patterns.filter((p) => p.test(subject)).length }).toEqual({ name, subject, channels: 1 });
  }
});

test("every schema of the contract is some message's payload (CATALOG, the server API, the client protocol's commands)", () => {
  const payloads = Object.values(doc().components.messages).map((m) => JSON.stringify(m.payload.schema));
  const schemas = [
    ...CATALOG.map((e) => [e.name, e.schema] as const),
    ...Object.entries(API_METHODS).flatMap(([m, a]) => [[`${m} request`, a.request], [`${m} result`, a.result]] as const),
    ...Object.entries(centrifugo.METHODS).map(([m, v]) => [`centrifugo ${m}`, v.schema] as const),
  ];
  for (const [name, schema] of schemas) expect({ name, used: payloads.some((p) => p.includes(JSON.stringify(plain(schema)))) }).toEqual({ name, used: true });
  for (const m of Object.values(doc().components.messages)) expect(m.payload.schemaFormat).toBe("application/schema+json;version=draft-07");
});

test("the document holds together: parameters match addresses, every message is on a channel, every channel has an operation", () => {
  const d = doc();
  for (const [id, c] of Object.entries(d.channels)) {
    const inAddress = [...(c.address ?? "").matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    expect({ id, params: Object.keys(c.parameters ?? {}).sort() }).toEqual({ id, params: inAddress as string[] });
  }
  const onChannels = new Set(Object.values(d.channels).flatMap((c) => Object.values(c.messages).map((m) => m.$ref.split("/").at(-1))));
  expect(Object.keys(d.components.messages).filter((m) => !onChannels.has(m))).toEqual([]);
  const used = new Set(Object.values(d.operations).flatMap((o) => [o.channel.$ref, ...(o.reply ? [o.reply.channel.$ref] : [])]).map((r) => r.split("/").at(-1)));
  expect(Object.keys(d.channels).filter((c) => !used.has(c))).toEqual([]);
});
