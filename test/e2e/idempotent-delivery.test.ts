// An idempotent repeat of a notification that waited for delivery gets the first answer back: the
// same seq and the same `delivered`, from whichever notifier of the queue group serves it, across a
// notifier restart, and while the first is still waiting. Two notifiers, a real gateway and its
// receipts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { userLiveSubject } from "@rt/protocol";
import { NATS_ADMIN, ServiceProcess, TestSocket, TestSystem, signToken } from "@rt/testkit";

let sys: TestSystem;
let other: ServiceProcess;
let nc: NatsConnection;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 1, notifier: true });
  other = await ServiceProcess.start("notifier", { NATS_URL: sys.natsUrl, LOG_LEVEL: "warn" });
  nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await other?.[Symbol.asyncDispose]();
  await sys?.[Symbol.asyncDispose]();
});

type Answer = { status: number; json: { id: string; seq: number; epoch: string; delivered?: boolean } };

async function post(notifier: ServiceProcess, body: Record<string, unknown>): Promise<Answer> {
  const r = await fetch(`${notifier.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Answer["json"] };
}

const inbox = async (user: string, query = ""): Promise<TestSocket> => TestSocket.open(`${sys.gw(0).ws}/notifications?token=${await signToken(user)}${query}`);

describe("a repeat of a keyed notification that waited for delivery", () => {
  test("delivered: the repeat on the other notifier answers the same id, seq and delivered: true", async () => {
    const user = "idem-delivered";
    await using socket = await inbox(user);
    const req = { user_id: user, body: "hello", idempotency_key: "order-1", wait_for_delivery_ms: 3000 };
    const first = await post(sys.notifier!, req);
    expect(first).toEqual({ status: 202, json: { id: expect.any(String), seq: expect.any(Number), epoch: expect.any(String), delivered: true } });
    await socket.waitForMessages(1);
    const repeat = await post(other, req);
    expect(repeat).toEqual({ status: 200, json: first.json });
    // The socket got it once.
    await using marker = await inbox(user); // a second socket, placed after it: the marker reaches both
    await post(sys.notifier!, { user_id: user, body: "marker" });
    await marker.waitForMessages(1);
    await socket.waitForMessages(2);
    expect(socket.messages.map((m) => (JSON.parse(m) as { body: string }).body)).toEqual(["hello", "marker"]);
  });

  test("not delivered: the repeat answers delivered: false, even when a socket of the user gets it meanwhile", async () => {
    const user = "idem-undelivered";
    const req = { user_id: user, body: "nobody home", idempotency_key: "order-2", wait_for_delivery_ms: 300 };
    const first = await post(sys.notifier!, req);
    expect(first.json.delivered).toBe(false);
    // The repeat waits up to 5 s; the user connects meanwhile and replays the notification (a receipt).
    const repeat = post(other, { ...req, wait_for_delivery_ms: 5000 });
    await using socket = await inbox(user, "&since=0");
    await socket.waitForMessages(1);
    expect(await repeat).toEqual({ status: 200, json: first.json });
  });

  test("across a restart of the notifier that gave the first answer", async () => {
    const user = "idem-restart";
    await using socket = await inbox(user);
    const req = { user_id: user, body: "survives", idempotency_key: "order-3", wait_for_delivery_ms: 3000 };
    const first = await post(other, req);
    expect(first.json.delivered).toBe(true);
    await other.stop("SIGKILL");
    other = await ServiceProcess.start("notifier", { NATS_URL: sys.natsUrl, LOG_LEVEL: "warn" });
    expect(await post(other, req)).toEqual({ status: 200, json: first.json });
    expect(await post(sys.notifier!, req)).toEqual({ status: 200, json: first.json });
  });

  test("a repeat that comes while the first still waits gets what the first is told, once it is told", async () => {
    const user = "idem-inflight";
    const req = { user_id: user, body: "later", idempotency_key: "order-4", wait_for_delivery_ms: 4000 };
    const announced = nc.subscribe(userLiveSubject(user), { max: 1 });
    await nc.flush();
    const first = post(sys.notifier!, req);
    for await (const _ of announced) break; // stored and announced: the first is waiting for its receipt now
    // A repeat without a wait answers at once, with no `delivered`.
    const seen = await post(other, { ...req, wait_for_delivery_ms: undefined });
    expect(seen.status).toBe(200);
    expect("delivered" in seen.json).toBe(false);
    const repeat = post(other, req);
    await using socket = await inbox(user, "&since=0"); // the user comes while both wait
    await socket.waitForMessages(1);
    const [a, b] = await Promise.all([first, repeat]);
    expect(a).toEqual({ status: 202, json: { ...seen.json, delivered: true } });
    expect(b).toEqual({ status: 200, json: a.json });
  });

  test("a repeat asking for delivery when the first did not wait: delivered: false (nothing was waited for)", async () => {
    const user = "idem-nowait";
    await using socket = await inbox(user);
    const first = await post(sys.notifier!, { user_id: user, body: "x", idempotency_key: "order-5" });
    expect(first.status).toBe(202);
    await socket.waitForMessages(1);
    expect(await post(other, { user_id: user, body: "x", idempotency_key: "order-5", wait_for_delivery_ms: 1000 })).toEqual({ status: 200, json: { ...first.json, delivered: false } });
  });
});
