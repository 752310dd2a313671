// The NOTIFICATIONS stream is bounded (docs/nats.md, "Bounds, and what happens at each"): in total (NOTIFICATIONS_MAX_BYTES,
// discarding the oldest) and per message (the largest request plus what storing adds), on a fresh
// server and on a stream an older version created without bounds; what happens at each bound.
import { expect, test } from "bun:test";
import { DiscardPolicy, StorageType, jetstream, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { MAX_REQUEST_BYTES, MAX_STORED_NOTIFICATION_BYTES, NOTIFICATIONS_MAX_MSG_SIZE, NOTIFICATIONS_STREAM, NOTIFY_USER_WILDCARD, userStoreSubject, type NotificationFrame } from "@rt/protocol";
import { NATS_ADMIN, ServiceProcess, TEST_JWT_SECRET, TestNats, TestSocket, signToken } from "@rt/testkit";
import { Fixture, post } from "./helpers.ts";

/** The smallest NOTIFICATIONS_MAX_BYTES: two of the largest notifications (with their headers). */
const SMALLEST = 2 * NOTIFICATIONS_MAX_MSG_SIZE;

async function info(nc: NatsConnection): Promise<StreamInfo> {
  return (await jetstreamManager(nc)).streams.info(NOTIFICATIONS_STREAM);
}

test("a fresh server: max_bytes is NOTIFICATIONS_MAX_BYTES, max_msg_size the largest stored notification and its headers, discard old", async () => {
  await using f = await Fixture.start({ NOTIFICATIONS_MAX_BYTES: "1048576" });
  const { config } = await info(f.nc);
  expect(NOTIFICATIONS_MAX_MSG_SIZE).toBe(MAX_STORED_NOTIFICATION_BYTES + 256);
  expect({ max_bytes: config.max_bytes, max_msg_size: config.max_msg_size, discard: config.discard })
    .toEqual({ max_bytes: 1048576, max_msg_size: NOTIFICATIONS_MAX_MSG_SIZE, discard: DiscardPolicy.Old });
});

test("a stream an older version made without bounds gets them at start, and what is over them goes, oldest first", async () => {
  await using nats = await TestNats.start();
  const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  try {
    await (await jetstreamManager(nc)).streams.add({
      name: NOTIFICATIONS_STREAM, subjects: [NOTIFY_USER_WILDCARD], storage: StorageType.File, max_age: nanos(7 * 86_400_000),
      max_msgs_per_subject: 1000, duplicate_window: nanos(3_600_000), discard: DiscardPolicy.Old, num_replicas: 1,
    });
    const js = jetstream(nc);
    for (let i = 0; i < 40; i++) await js.publish(`notify.user.b2xk-${i % 5}`, JSON.stringify({ body: "o".repeat(20_000) }));
    const before = await info(nc);
    expect({ max_bytes: before.config.max_bytes, max_msg_size: before.config.max_msg_size, over: before.state.bytes > SMALLEST }).toEqual({ max_bytes: -1, max_msg_size: -1, over: true });

    await using _notifier = await ServiceProcess.start("notifier", { NATS_URL: nats.url, LOG_LEVEL: "warn", NOTIFICATIONS_MAX_BYTES: String(SMALLEST) });
    const after = await info(nc);
    expect({ max_bytes: after.config.max_bytes, max_msg_size: after.config.max_msg_size, within: after.state.bytes <= SMALLEST, last: after.state.last_seq })
      .toEqual({ max_bytes: SMALLEST, max_msg_size: NOTIFICATIONS_MAX_MSG_SIZE, within: true, last: 40 });
    expect(after.state.first_seq).toBeGreaterThan(1);
  } finally {
    await nc.close();
  }
});

test("at NOTIFICATIONS_MAX_BYTES the oldest go; every send is still stored (202) and delivered; a recovery from a gone seq is not recovered", async () => {
  await using f = await Fixture.start({ NOTIFICATIONS_MAX_BYTES: String(SMALLEST) });
  await using gw = await ServiceProcess.start("gateway", { NATS_URL: f.nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "warn" });
  const token = await signToken("bound-user");
  await using live = await TestSocket.open(`${gw.ws}/notifications?token=${token}`);
  const N = 40; // 20 KB each: 800 KB, past the bound of 520 KB
  const seqs: number[] = [];
  for (let i = 0; i < N; i++) {
    const r = await f.post({ user_id: "bound-user", body: `${i}:${"n".repeat(20_000)}` });
    expect(r.status).toBe(202);
    seqs.push(r.json.seq as number);
  }
  await live.waitForMessages(N, 10_000);
  expect(live.messages.map((m) => (JSON.parse(m) as NotificationFrame).seq)).toEqual(seqs);
  const state = (await info(f.nc)).state;
  expect(state.bytes).toBeLessThanOrEqual(SMALLEST);
  expect(state.first_seq).toBeGreaterThan(seqs[0]!);
  expect(state.last_seq).toBe(seqs[N - 1]!);

  // The client protocol reports the gap: recovering from a seq that was pushed out is not recovered.
  const epoch = (JSON.parse(live.messages[0]!) as NotificationFrame).epoch;
  await using proto = await TestSocket.open(`${gw.ws}/connection/websocket`);
  proto.send({ id: 1, connect: { token, subs: { "#bound-user": { recover: true, offset: seqs[0], epoch } } } });
  const reply = await proto.nextJson<{ connect: { subs: Record<string, { recovered?: boolean; offset: number; epoch: string }> } }>();
  expect(reply.connect.subs["#bound-user"]).toMatchObject({ recovered: false, offset: seqs[N - 1], epoch });
}, 60_000);

test("a request within MAX_REQUEST_BYTES whose stored form is over the stream's limit is answered 413, never 202; later sends are stored", async () => {
  await using f = await Fixture.start();
  // 1e20 is written back as 100000000000000000000: 4.4 times longer once stored.
  const body = `{"user_id":"big-user","body":"x","data":{"n":[${Array(45_000).fill("1e20").join(",")}]}}`;
  expect(body.length).toBeLessThan(MAX_REQUEST_BYTES);
  const r = await post(f.svc.http, body, { raw: true });
  expect({ status: r.status, path: r.json.errors?.[0]?.path }).toEqual({ status: 413, path: "" });
  expect(r.json.errors[0].message).toMatch(new RegExp(`^the notification is \\d+ bytes as stored; at most ${MAX_STORED_NOTIFICATION_BYTES}$`));
  expect((await f.post({ user_id: "big-user", body: "after" })).status).toBe(202);
  expect((await f.stored(userStoreSubject("big-user"))).map((n) => n.body)).toEqual(["after"]);
});

test("a notification the stream refuses for its size (its limit lowered by hand) is answered 413, not retried; nothing stored, later sends are", async () => {
  await using f = await Fixture.start();
  await f.post({ user_id: "lowered-user", body: "first" });
  const jsm = await jetstreamManager(f.nc);
  await jsm.streams.update(NOTIFICATIONS_STREAM, { ...(await info(f.nc)).config, max_msg_size: 1024 });
  // Within MAX_STORED_NOTIFICATION_BYTES, over the stream's lowered limit; keyed, so a retry would be allowed.
  const r = await f.post({ user_id: "lowered-user", body: "x".repeat(2000), idempotency_key: "big" });
  expect({ status: r.status, path: r.json.errors?.[0]?.path }).toEqual({ status: 413, path: "" });
  expect(r.json.errors[0].message).toContain("the notifications stream refused it as over its max_msg_size");
  expect((await f.post({ user_id: "lowered-user", body: "after" })).status).toBe(202);
  expect((await f.stored(userStoreSubject("lowered-user"))).map((n) => n.body)).toEqual(["first", "after"]);
});
