// deploy/nats/auth.conf as shipped, on a real nats-server (the one every test runs against):
// each role may do what it needs and is refused the rest with a permissions error, never a silent drop.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, errors, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { INBOX_PREFIX, channelPubSubject, channelStoreSubject, channelStoreWildcard, metricsSubject, namespaceStream, roomSubject, userLiveSubject, userStoreSubject } from "@rt/protocol";
import { NATS_ADMIN, SdkClient, TestSystem, natsAs, signToken, waitFor, type NatsRole } from "@rt/testkit";

let sys: TestSystem;
let admin: NatsConnection;
const conns: NatsConnection[] = [];
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 1, notifier: true });
  admin = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
});
afterAll(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
  await admin?.close();
  await sys?.[Symbol.asyncDispose]();
});

/** A connection as `role` (with the role's inbox prefix, as its service uses), with every permissions error it is told about. */
async function as(role: NatsRole): Promise<{ nc: NatsConnection; violations: string[] }> {
  const inboxPrefix = role === "gateway" || role === "notifier" || role === "metrics" ? INBOX_PREFIX[role] : undefined;
  const nc = await connect({ ...natsAs(role), servers: sys.natsUrl, ...(inboxPrefix ? { inboxPrefix } : {}) });
  conns.push(nc);
  const violations: string[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error instanceof errors.PermissionViolationError) violations.push(`${s.error.operation} ${s.error.subject}`);
    }
  })();
  return { nc, violations };
}

/** What the admin sees on `subject` while `act` runs (nothing must get through a refused publish). */
async function seenOn(subject: string, act: () => Promise<void>): Promise<number> {
  let n = 0;
  const sub = admin.subscribe(subject, {
    callback: () => {
      n++;
    },
  });
  await admin.flush();
  await act(); // each act ends with a flush of its own connection: the server has handled its publishes
  // ...and routed any that got through into the admin's connection, ahead of the answer to this flush.
  await admin.flush();
  sub.unsubscribe();
  return n;
}

/** A request that must be refused for permissions (not time out). */
async function refused(nc: NatsConnection, subject: string): Promise<void> {
  const t0 = performance.now();
  const err = await nc.request(subject, "{}", { timeout: 3000 }).then(() => undefined, (e: unknown) => e);
  // nats.js rejects the request with a RequestError whose cause is the server's permissions violation.
  expect(err).toBeInstanceOf(errors.RequestError);
  expect((err as Error).cause).toBeInstanceOf(errors.PermissionViolationError);
  expect(String((err as Error).cause)).toContain(subject);
  expect(performance.now() - t0).toBeLessThan(2000); // an answer from the server, not a timeout
}

/** How a subscription ends: "refused" when the server refused it for permissions (nats.js closes it with that error). */
async function howItEnds(sub: Subscription): Promise<string> {
  try {
    for await (const _ of sub) void _;
    return "ended";
  } catch (err) {
    return err instanceof errors.PermissionViolationError ? "refused" : String(err);
  }
}

describe("NATS users and permissions (deploy/nats/auth.conf)", () => {
  test("a connection without credentials, or with a wrong password, is refused", async () => {
    expect(connect({ servers: sys.natsUrl, maxReconnectAttempts: 0 })).rejects.toThrow();
    expect(connect({ servers: sys.natsUrl, user: "gateway", pass: "not-the-password", maxReconnectAttempts: 0 })).rejects.toThrow();
    expect(connect({ servers: sys.natsUrl, user: "nobody", pass: "x", maxReconnectAttempts: 0 })).rejects.toThrow();
  });

  test("the gateway's user cannot write an inbox, forge a live notification or send through notifier.send", async () => {
    const { nc, violations } = await as("gateway");
    expect(await seenOn("notify.>", async () => {
      nc.publish(userStoreSubject("mallory"), "{}");
      nc.publish(userLiveSubject("mallory"), "{}");
      await nc.flush();
    })).toBe(0);
    await waitFor("both refusals reported", () => violations.length >= 2);
    expect(violations).toEqual(expect.arrayContaining([`publish ${userStoreSubject("mallory")}`, `publish ${userLiveSubject("mallory")}`]));
    await refused(nc, "notifier.send");
    await refused(nc, "api.publish");
  });

  test("the metrics user cannot publish into a room (nor anything but samples); its samples go through", async () => {
    const { nc, violations } = await as("metrics");
    expect(await seenOn("chat.>", async () => {
      nc.publish(roomSubject("lobby"), JSON.stringify({ data: { text: "forged" }, info: { user: "x", client: "y" } }));
      await nc.flush();
    })).toBe(0);
    await waitFor("the refusal reported", () => violations.includes(`publish ${roomSubject("lobby")}`));
    await refused(nc, "notifier.send");
    expect(await seenOn("metrics.host.*", async () => {
      nc.publish(metricsSubject("perm-host"), "{}");
      await nc.flush();
    })).toBe(1);
  });

  test("a backend may request notifier.send and api.*, and answer rpc.*; anything else is a permissions error", async () => {
    const { nc, violations } = await as("backend");
    const sent = await nc.request("notifier.send", JSON.stringify({ user_id: "perm-user", body: "from a backend" }), { timeout: 5000 });
    expect(sent.json<{ seq: number }>().seq).toBeGreaterThan(0);
    const info = await nc.request("api.info", "{}", { timeout: 5000 });
    expect(info.json<{ result?: unknown }>().result).toBeDefined();
    for (const subject of [roomSubject("lobby"), userLiveSubject("perm-user"), "gateway.api.info", "gateway.control.info", "presence.query.lobby", "$JS.API.STREAM.INFO.NOTIFICATIONS"]) await refused(nc, subject);
    // Listening where it must not: the subscription is refused and closed, not left silent.
    expect(await howItEnds(nc.subscribe(userLiveSubject("perm-user")))).toBe("refused");
    await waitFor("the refused subscription reported", () => violations.some((v) => v.startsWith("subscription ")));

    // rpc: a browser's call reaches the backend, whose answer comes back.
    const rpc = nc.subscribe("rpc.perm-echo", {
      queue: "backends",
      callback: (_e, m) => {
        m.respond(JSON.stringify({ result: { data: { echoed: m.json<{ data: unknown }>().data } } }));
      },
    });
    await nc.flush();
    await using client = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken("perm-caller") });
    await client.connect();
    const answer = await client.centrifuge.rpc("perm-echo", { n: 1 });
    expect(answer.data).toEqual({ echoed: { n: 1 } });
    rpc.unsubscribe();
  });

  test("namespace streams: the gateway creates and updates NS_<ns> (any name but NOTIFICATIONS, denied by name) and publishes channels; a backend may not publish them", async () => {
    const gw = await as("gateway");
    const jsm = await jetstreamManager(gw.nc, { checkAPI: false });
    const stream = namespaceStream("perm-orders");
    await jsm.streams.add({ name: stream, subjects: [channelStoreWildcard("perm-orders")], max_msgs_per_subject: 5 });
    await jsm.streams.update(stream, { subjects: [channelStoreWildcard("perm-orders")], max_msgs_per_subject: 6 });
    expect((await jsm.streams.info(stream)).config.max_msgs_per_subject).toBe(6);
    await refused(gw.nc, "$JS.API.STREAM.CREATE.NOTIFICATIONS");
    await refused(gw.nc, "$JS.API.STREAM.UPDATE.NOTIFICATIONS");
    for (const op of ["DELETE", "PURGE"]) await refused(gw.nc, `$JS.API.STREAM.${op}.${stream}`);
    await refused(gw.nc, `$JS.API.STREAM.MSG.DELETE.${stream}`);
    // Core publishes of a namespace's channels: the gateway and the notifier may, a backend may not (it has api.publish).
    for (const role of ["gateway", "notifier"] as const) {
      const c = role === "gateway" ? gw : await as(role);
      expect(await seenOn("chan.pub.>", async () => {
        c.nc.publish(channelPubSubject("perm-game", "perm-game:x"), "{}");
        await c.nc.flush();
      })).toBe(1);
    }
    const backend = await as("backend");
    expect(await seenOn("chan.>", async () => {
      backend.nc.publish(channelPubSubject("perm-game", "perm-game:x"), "{}");
      backend.nc.publish(channelStoreSubject("perm-orders", "perm-orders:1"), "{}");
      await backend.nc.flush();
    })).toBe(0);
    await waitFor("both refusals reported", () => backend.violations.length >= 2);
    await jetstreamManager(admin).then((m) => m.streams.delete(stream));
  });

  test("services cannot stand in for each other: the gateway cannot serve notifier.send or api.*, the notifier cannot publish samples", async () => {
    const gw = await as("gateway");
    for (const subject of ["notifier.send", "api.*"]) {
      expect({ subject, how: await howItEnds(gw.nc.subscribe(subject)) }).toEqual({ subject, how: "refused" });
    }
    const notifier = await as("notifier");
    notifier.nc.publish(metricsSubject("forged"), "{}");
    await notifier.nc.flush();
    await waitFor("the refusal reported", () => notifier.violations.includes(`publish ${metricsSubject("forged")}`));
  });
});
