// GET /metrics on a gateway: what each counter counts, read after real traffic (SDK, legacy sockets, notifier).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SdkClient, TestSocket, TestSystem, metric, samples, signToken, waitFor } from "@rt/testkit";

let sys: TestSystem;
beforeAll(async () => {
  sys = await TestSystem.start({ gateways: 1, notifier: true, metrics: true, metricsEnv: { INTERVAL_MS: "200" } });
});
afterAll(async () => {
  await sys?.[Symbol.asyncDispose]();
});

const gw = () => sys.gw(0).http;
const sdk = async (user: string) => {
  const c = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken(user) });
  await c.connect();
  return c;
};

describe("gateway /metrics", () => {
  test("every name has the rt_ prefix (process_ and nodejs_ aside), and the page is Prometheus text", async () => {
    const res = await fetch(`${gw()}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const names = new Set((await res.text()).split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]!));
    const ours = [...names].filter((n) => !n.startsWith("process_") && !n.startsWith("nodejs_"));
    expect(ours.length).toBeGreaterThan(10);
    expect(ours.filter((n) => !n.startsWith("rt_"))).toEqual([]);
    for (const n of ["rt_connections", "rt_users", "rt_subscriptions", "rt_channels", "rt_messages_in_total", "rt_messages_out_total", "rt_command_duration_seconds", "rt_disconnects_total", "rt_recoveries_total", "rt_nats_publish_failures_total", "rt_jetstream_store_duration_seconds", "rt_nats_connected", "rt_rejections_total"]) {
      expect(names).toContain(n);
    }
  });

  test("connections, users, subscriptions and channels follow the sockets; disconnects count by code", async () => {
    const before = await metric(gw(), "rt_disconnects_total", 'code="1000"');
    const ann = await sdk("m-ann");
    const bob = await sdk("m-bob");
    await ann.subscribe("chat:m-room");
    await bob.subscribe("chat:m-room");
    await bob.subscribe("system:monitor");
    const legacy = await TestSocket.open(`${sys.gw(0).ws}/chat/m-room`);
    const monitorSocket = await TestSocket.open(`${sys.gw(0).ws}/system-monitor`);
    await waitFor("two protocol connections", async () => (await metric(gw(), "rt_connections", 'protocol="centrifugo"')) === 2);
    expect(await metric(gw(), "rt_connections", 'protocol="room"')).toBe(1);
    expect(await metric(gw(), "rt_connections", 'protocol="monitor"')).toBe(1);
    expect(await metric(gw(), "rt_users")).toBe(2);
    expect(await metric(gw(), "rt_subscriptions", 'namespace="chat"')).toBe(3); // two protocol subscriptions and one /chat/ socket
    expect(await metric(gw(), "rt_subscriptions", 'namespace="system"')).toBe(2);
    expect(await metric(gw(), "rt_subscriptions", 'namespace="personal"')).toBe(2); // #m-ann, #m-bob
    expect(await metric(gw(), "rt_channels", 'namespace="chat"')).toBe(1);
    expect(await metric(gw(), "rt_channels", 'namespace="system"')).toBe(1);
    expect(await metric(gw(), "rt_channels", 'namespace="personal"')).toBe(2);

    legacy.close(1000);
    monitorSocket.close(1000);
    await ann[Symbol.asyncDispose]();
    await bob[Symbol.asyncDispose]();
    await waitFor("every socket closed", async () => (await metric(gw(), "rt_connections")) === 0);
    expect(await metric(gw(), "rt_users")).toBe(0);
    expect(await metric(gw(), "rt_subscriptions")).toBe(0);
    expect(await metric(gw(), "rt_channels")).toBe(0);
    expect((await metric(gw(), "rt_disconnects_total", 'code="1000"')) - before).toBeGreaterThanOrEqual(2);
  });

  test("messages in and out by namespace, the ROOMS store latency, and command durations by command", async () => {
    const c = await sdk("m-pub");
    const sub = await c.subscribe("chat:m-flow");
    const inBefore = await metric(gw(), "rt_messages_in_total", 'namespace="chat"');
    const outBefore = await metric(gw(), "rt_messages_out_total", 'namespace="chat"');
    const storedBefore = await metric(gw(), "rt_jetstream_store_duration_seconds_count", 'stream="ROOMS"');
    for (let i = 0; i < 5; i++) await sub.publish({ n: i });
    await c.waitFor("chat:m-flow", 5);
    await waitFor("5 out on chat", async () => (await metric(gw(), "rt_messages_out_total", 'namespace="chat"')) - outBefore === 5);
    expect((await metric(gw(), "rt_messages_in_total", 'namespace="chat"')) - inBefore).toBe(5);
    expect((await metric(gw(), "rt_jetstream_store_duration_seconds_count", 'stream="ROOMS"')) - storedBefore).toBe(5);
    expect(await metric(gw(), "rt_command_duration_seconds_count", 'command="publish"')).toBeGreaterThanOrEqual(5);
    expect(await metric(gw(), "rt_command_duration_seconds_count", 'command="subscribe"')).toBeGreaterThanOrEqual(1);
    expect(await metric(gw(), "rt_command_duration_seconds_count", 'command="connect"')).toBeGreaterThanOrEqual(1);
    // The metrics service samples every 200 ms; each sample goes out once on system.
    const mon = await TestSocket.open(`${sys.gw(0).ws}/system-monitor`);
    const sysBefore = await metric(gw(), "rt_messages_out_total", 'namespace="system"');
    await waitFor("monitor samples go out", async () => (await metric(gw(), "rt_messages_out_total", 'namespace="system"')) > sysBefore);
    mon.close(1000);
    await c[Symbol.asyncDispose]();
  });

  test("recoveries by namespace and result: a room position still kept recovers, a wrong epoch does not; /notifications?since counts", async () => {
    const pub = await sdk("m-rec-pub");
    const s = await pub.subscribe("chat:m-rec");
    for (let i = 0; i < 3; i++) await s.publish({ n: i });
    await pub.waitFor("chat:m-rec", 3);
    const first = pub.publications.find((p) => p.channel === "chat:m-rec")!;
    const epoch = pub.subscribed.find((x) => x.channel === "chat:m-rec")!.epoch!;
    const page = async () => samples(await (await fetch(`${gw()}/metrics`)).text(), "rt_recoveries_total");
    const at = async (labels: string) => (await page()).get(labels) ?? 0;
    const ok0 = await at('namespace="chat",result="recovered"');
    const bad0 = await at('namespace="chat",result="not_recovered"');

    const late = await sdk("m-rec-late");
    await late.subscribe("chat:m-rec", { since: { offset: first.offset, epoch } });
    await late.waitFor("chat:m-rec", 2); // the two after the offset
    expect(await at('namespace="chat",result="recovered"')).toBe(ok0 + 1);
    const wrong = await sdk("m-rec-wrong");
    await wrong.subscribe("chat:m-rec", { since: { offset: first.offset, epoch: "not-this-epoch" } });
    expect(await at('namespace="chat",result="not_recovered"')).toBe(bad0 + 1);

    const personal0 = await at('namespace="personal",result="recovered"');
    const token = await signToken("m-rec-inbox");
    const inbox = await TestSocket.open(`${sys.gw(0).ws}/notifications?token=${token}&since=0`);
    await waitFor("a personal recovery", async () => (await at('namespace="personal",result="recovered"')) === personal0 + 1);
    inbox.close(1000);
    for (const c of [pub, late, wrong]) await c[Symbol.asyncDispose]();
  });

  test("a notification counts once out on personal however many sockets the user has", async () => {
    const token = await signToken("m-notified");
    const a = await TestSocket.open(`${sys.gw(0).ws}/notifications?token=${token}`);
    const b = await TestSocket.open(`${sys.gw(0).ws}/notifications?token=${token}`);
    await waitFor("both inboxes open", async () => (await metric(gw(), "rt_subscriptions", 'namespace="personal"')) >= 2);
    const before = await metric(gw(), "rt_messages_out_total", 'namespace="personal"');
    const r = await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "m-notified", body: "hi" }) });
    expect(r.status).toBe(202);
    await waitFor("both sockets have it", () => [a, b].every((s) => s.messages.some((m) => m.includes('"hi"'))));
    expect((await metric(gw(), "rt_messages_out_total", 'namespace="personal"')) - before).toBe(1);
    a.close(1000);
    b.close(1000);
  });
});
