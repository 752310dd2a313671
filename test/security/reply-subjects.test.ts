// A request names its reply subject, and a responder publishes its answer there: every responder of
// the system (the notifier's `notifier.send` and `api.*`, the gateway's `gateway.api.*`,
// `gateway.control.*` and `presence.query.*`) answers only into its callers' inboxes, counts and
// drops every other request, and the shipped deploy/nats/auth.conf would refuse the answer anyway.
// Backends answer browsers' RPC only into the gateways' inboxes for backends.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { NOTIFICATIONS_STREAM, REPLY_PREFIX, ROOMS_STREAM, gatewayEmulationSubject, roomSubject, userStoreSubject, type Responder } from "@rt/protocol";
import { NATS_ADMIN, SdkClient, TestSocket, TestSystem, metric, natsAs, signToken, waitFor, type ServiceProcess } from "@rt/testkit";

let sys: TestSystem;
let admin: NatsConnection;
let backend: NatsConnection;
let jsm: JetStreamManager;
let member: TestSocket;
/** The gateway's id, as other gateways address its emulation requests (`gateway.emulation.<id>`). */
let gatewayId: string;
/** The backend connection's permissions errors, as `<operation> <subject>`. */
const violations: string[] = [];

beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 1, notifier: true });
  admin = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
  jsm = await jetstreamManager(admin);
  backend = await connect({ ...natsAs("backend"), servers: sys.natsUrl });
  void (async () => {
    for await (const s of backend.status()) if (s.type === "error" && s.error instanceof errors.PermissionViolationError) violations.push(`${s.error.operation} ${s.error.subject}`);
  })();
  // Something in both streams (a purge would show), and a member of the lobby (so a presence answer has a body).
  const published = await backend.request("api.publish", JSON.stringify({ channel: "chat:lobby", data: { text: "kept" } }), { timeout: 5000 });
  expect(published.json<{ result?: { offset: number } }>().result?.offset).toBeGreaterThan(0);
  const sent = await backend.request("notifier.send", JSON.stringify({ user_id: "reply-victim", body: "kept" }), { timeout: 5000 });
  expect(sent.json<{ seq?: number }>().seq).toBeGreaterThan(0);
  member = await TestSocket.open(`${sys.gw(0).ws}/chat/lobby`);
  gatewayId = ((await askAs(REPLY_PREFIX.gather, "gateway.control.info", "{}")) as { gateway: string }).gateway;
  expect(gatewayId).toBeTruthy();
});
afterAll(async () => {
  member?.close();
  await backend?.close();
  await admin?.close();
  await sys?.[Symbol.asyncDispose]();
});

/** Messages in each stream (throws when a stream is gone). */
const streamCounts = async () => ({
  rooms: (await jsm.streams.info(ROOMS_STREAM)).state.messages,
  notifications: (await jsm.streams.info(NOTIFICATIONS_STREAM)).state.messages,
});

interface Case {
  responder: Responder;
  /** The service that answers it. */
  service: () => ServiceProcess;
  /** Who asks: a backend where backends may call it, else admin (backends may not publish there). */
  requester: () => NatsConnection;
  subject: string;
  body: string;
  /** A normal request to the same responder from the same requester, answered (and storing nothing). */
  answered: () => Promise<unknown>;
}

/** A request from admin with a reply under `prefix` (the one the responder's real callers use), and its first answer. */
async function askAs(prefix: string, subject: string, body: string): Promise<unknown> {
  const reply = `${prefix}test.${crypto.randomUUID().replaceAll("-", "")}`;
  const sub = admin.subscribe(reply, { max: 1 });
  admin.publish(subject, body, { reply });
  for await (const m of sub) return m.json();
  throw new Error(`no answer on ${subject}`);
}

const CASES: Case[] = [
  {
    responder: "notifier.send", service: () => sys.notifier!, requester: () => backend, subject: "notifier.send",
    body: JSON.stringify({ user_id: "reply-forged", body: "a notification that must not be stored" }),
    answered: async () => expect((await backend.request("notifier.send", "{}", { timeout: 5000 })).json()).toMatchObject({ status: 400 }),
  },
  {
    responder: "api", service: () => sys.notifier!, requester: () => backend, subject: "api.info", body: "{}",
    answered: async () => expect((await backend.request("api.info", "{}", { timeout: 5000 })).json()).toHaveProperty("result.nodes"),
  },
  {
    responder: "gateway.api", service: () => sys.gw(0), requester: () => admin, subject: "gateway.api.info", body: "{}",
    answered: async () => expect(await askAs(REPLY_PREFIX.gatewayApi, "gateway.api.info", "{}")).toHaveProperty("result.nodes"),
  },
  {
    responder: "gateway.control", service: () => sys.gw(0), requester: () => admin, subject: "gateway.control.info", body: "{}",
    answered: async () => expect(await askAs(REPLY_PREFIX.gather, "gateway.control.info", "{}")).toHaveProperty("node"),
  },
  {
    responder: "presence.query", service: () => sys.gw(0), requester: () => admin, subject: "presence.query.lobby", body: JSON.stringify({ kind: "list" }),
    answered: async () => expect(await askAs(REPLY_PREFIX.gather, "presence.query.lobby", JSON.stringify({ kind: "list" }))).toHaveProperty("members.length", 1),
  },
  {
    // Another gateway's forward of an /emulation POST; a session nobody holds, so a normal one is answered "gone".
    responder: "gateway.emulation", service: () => sys.gw(0), requester: () => admin,
    get subject() {
      return gatewayEmulationSubject(gatewayId);
    },
    body: JSON.stringify({ session: "A".repeat(43), encoding: "json", data: JSON.stringify({ id: 2, publish: { channel: "chat:lobby", data: { text: "forged" } } }) }),
    answered: async () => expect(await askAs(REPLY_PREFIX.emulation, gatewayEmulationSubject(gatewayId), JSON.stringify({ session: "A".repeat(43), encoding: "json", data: "{}" }))).toEqual({ outcome: "gone" }),
  },
];

/** Reply subjects a hostile request names: what its answer would do there. */
const HOSTILE: Array<[string, string]> = [
  ["a room (a forged publication)", roomSubject("lobby")],
  ["an inbox (a forged notification)", userStoreSubject("reply-victim")],
  ["a metrics subject (where neither user may publish)", "metrics.host.evil"],
  ["the purge of ROOMS", `$JS.API.STREAM.PURGE.${ROOMS_STREAM}`],
  ["the purge of NOTIFICATIONS", `$JS.API.STREAM.PURGE.${NOTIFICATIONS_STREAM}`],
  ["the deletion of ROOMS", `$JS.API.STREAM.DELETE.${ROOMS_STREAM}`],
  ["the deletion of NOTIFICATIONS", `$JS.API.STREAM.DELETE.${NOTIFICATIONS_STREAM}`],
];

describe("a responder answers only into its callers' inboxes", () => {
  for (const c of CASES) {
    test.each(HOSTILE)(`${c.responder}: a reply subject naming %s changes nothing, and the refusal is counted`, async (_what, reply) => {
      const refusedBefore = await metric(c.service().http, "rt_reply_refused_total", `responder="${c.responder}"`);
      const before = await streamCounts();
      let seen = 0;
      const watch = admin.subscribe(reply, { callback: () => void seen++ });
      await admin.flush();

      c.requester().publish(c.subject, c.body, { reply });
      const refused = () => metric(c.service().http, "rt_reply_refused_total", `responder="${c.responder}"`);
      // Settled when the responder counted its refusal, or when something got through.
      await waitFor("the request refused, or answered", async () => (await refused()) > refusedBefore || seen > 0 || JSON.stringify(await streamCounts()) !== JSON.stringify(before));
      // Positive control: the same responder answers a normal request from the same requester after it.
      await c.answered();
      await admin.flush();
      watch.unsubscribe();

      expect({ seen, streams: await streamCounts() }).toEqual({ seen: 0, streams: before });
      expect(await refused()).toBe(refusedBefore + 1);
    });
  }
});

describe("a backend answers browsers' RPC only into the gateways' inboxes for backends", () => {
  test("a normal RPC still works: the browser gets the backend's answer; with no backend, 108 at once", async () => {
    const sub = backend.subscribe("rpc.reply-echo", { queue: "backends", callback: (_e, m) => void m.respond(JSON.stringify({ result: { data: { echoed: m.json<{ data: unknown }>().data } } })) });
    await backend.flush();
    await using client = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken("reply-caller") });
    await client.connect();
    expect((await client.centrifuge.rpc("reply-echo", { n: 1 })).data).toEqual({ echoed: { n: 1 } });
    sub.unsubscribe();
    await backend.flush();
    const t0 = performance.now();
    expect(await client.centrifuge.rpc("reply-nobody", {}).then(() => undefined, (e: unknown) => e)).toMatchObject({ code: 108 });
    expect(performance.now() - t0).toBeLessThan(900); // no responders is known at once, well before PROXY_TIMEOUT (1 s)
  });

  test.each([
    ["a gateway's own inbox (its JetStream replies and acks)", `${REPLY_PREFIX.gather.split(".")[0]}.AbCdEfGhIjKlMnOpQrStUv.x1`],
    ["a gateway's inbox for other gateways' answers", `${REPLY_PREFIX.gather}AbC.1`],
    ["the notifier's inbox", `${REPLY_PREFIX.gatewayApi.split(".")[0]}.AbCdEfGhIjKlMnOpQrStUv.x1`],
    ["the purge of ROOMS", `$JS.API.STREAM.PURGE.${ROOMS_STREAM}`],
    ["a room", roomSubject("lobby")],
  ])("an rpc request whose reply names %s: the backend's answer is a permissions error, nothing arrives", async (_what, reply) => {
    const method = `reply-${crypto.randomUUID().slice(0, 8)}`;
    const rpc = backend.subscribe(`rpc.${method}`, { callback: (_e, m) => void m.respond(JSON.stringify({ forged: true })) });
    await backend.flush();
    const before = await streamCounts();
    let seen = 0;
    const watch = admin.subscribe(reply, { callback: () => void seen++ });
    await admin.flush();

    admin.publish(`rpc.${method}`, JSON.stringify({ user: "u", client: "c", data: null }), { reply });
    await waitFor("the backend's answer refused, or delivered", () => violations.includes(`publish ${reply}`) || seen > 0);
    // Positive control: the same backend answers into the gateways' inbox for backends.
    expect(await askAs(REPLY_PREFIX.proxy, `rpc.${method}`, "{}")).toEqual({ forged: true });
    await admin.flush();
    watch.unsubscribe();
    rpc.unsubscribe();

    expect({ seen, streams: await streamCounts() }).toEqual({ seen: 0, streams: before });
    expect(violations).toContain(`publish ${reply}`);
  });
});
