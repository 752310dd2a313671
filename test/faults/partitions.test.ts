import { describe, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { userLiveSubject } from "@rt/protocol";
import { TestSocket, TestSystem, waitFor, NATS_ADMIN } from "@rt/testkit";
import { frames, inbox, metric, notify, readyIs, roomJoined, roomTexts } from "./helpers.ts";

describe("rooms: a gateway cut off from NATS", () => {
  test("what a member sends while its gateway is cut off reaches the other gateway's members once the link is back: exactly once, in order", async () => {
    await using sys = await TestSystem.start({ gateways: 2, proxied: true });
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/cut`);
    await using b = await TestSocket.open(`${sys.gw(1).ws}/chat/cut`);
    await roomJoined(a, [b], "cut");
    a.send("before");
    await waitFor("before", () => roomTexts(b, "cut").includes("before"));

    sys.proxy(sys.gw(0)).cut();
    await readyIs(sys.gw(0), 503);
    for (let i = 0; i < 20; i++) a.send(`during ${i}`);
    await waitFor("local members have them at once", () => roomTexts(a, "cut").length === 21);
    await Bun.sleep(300);
    expect(roomTexts(b, "cut")).toEqual(["before"]);

    sys.proxy(sys.gw(0)).restore();
    await readyIs(sys.gw(0), 200);
    a.send("after");
    const expected = ["before", ...Array.from({ length: 20 }, (_, i) => `during ${i}`), "after"];
    await waitFor("all of them on the other gateway", () => roomTexts(b, "cut").length >= expected.length, 10_000);
    await Bun.sleep(300);
    expect(roomTexts(b, "cut")).toEqual(expected);
    expect(roomTexts(a, "cut")).toEqual(expected);
  });

  test("a cut in the middle of a steady flow: what was in flight is sent again and received once", async () => {
    await using sys = await TestSystem.start({ gateways: 2, proxied: true, gatewayEnv: { RATE_LIMIT_PER_SEC: "0" } });
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/flow`);
    await using b = await TestSocket.open(`${sys.gw(1).ws}/chat/flow`);
    await roomJoined(a, [b], "flow");
    const sent: string[] = [];
    const sender = (async () => {
      for (let i = 0; i < 300; i++) {
        a.send(`m${i}`);
        sent.push(`m${i}`);
        await Bun.sleep(5);
      }
    })();
    await waitFor("some through", () => roomTexts(b, "flow").length > 40);
    // NATS gets the messages but its confirmations (PONGs) are held back: at the cut, those
    // messages were delivered yet look unconfirmed, so they are sent again and must be dropped as repeats.
    sys.proxy(sys.gw(0)).delay(300, "toClient");
    await Bun.sleep(200);
    sys.proxy(sys.gw(0)).cut();
    sys.proxy(sys.gw(0)).delay(0);
    await Bun.sleep(400);
    sys.proxy(sys.gw(0)).restore();
    await sender;
    await waitFor("all through", () => roomTexts(b, "flow").length >= 300, 10_000);
    await Bun.sleep(300);
    expect(roomTexts(b, "flow")).toEqual(sent);
    expect(await metric(sys.gw(0), "rt_room_repeats_dropped_total")).toBeGreaterThan(0); // stored once: the stream recognized the repeats
  });

  test("what is held is bounded by bytes and by age, and what is dropped past the bound is counted", async () => {
    await using sys = await TestSystem.start({ gateways: 2, proxied: true, gatewayEnv: { ROOM_OUTBOX_MAX_BYTES: "2048", ROOM_OUTBOX_MAX_AGE: "1500ms" } });
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/bound`);
    await using b = await TestSocket.open(`${sys.gw(1).ws}/chat/bound`);
    await roomJoined(a, [b], "bound");
    const proxy = sys.proxy(sys.gw(0));

    proxy.cut();
    await readyIs(sys.gw(0), 503);
    const filler = "x".repeat(90);
    for (let i = 0; i < 40; i++) a.send(`${String(i).padStart(2, "0")}${filler}`); // 40 x 92 bytes: only the newest fit in 2 KiB
    proxy.restore();
    await readyIs(sys.gw(0), 200);
    await waitFor("the newest arrive", () => roomTexts(b, "bound").some((t) => t.startsWith("39")), 10_000);
    await Bun.sleep(300);
    const got = roomTexts(b, "bound").map((t) => Number(t.slice(0, 2)));
    expect(got.length).toBeGreaterThan(5);
    expect(got.length).toBeLessThan(40);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => 40 - got.length + i)); // the newest, in order
    expect(await metric(sys.gw(0), "rt_room_outbox_dropped_total", 'reason="bytes"')).toBe(40 - got.length);

    b.messages.length = 0;
    proxy.cut();
    await readyIs(sys.gw(0), 503);
    a.send("too old");
    await Bun.sleep(2000);
    proxy.restore();
    await readyIs(sys.gw(0), 200);
    a.send("fresh");
    await waitFor("fresh", () => roomTexts(b, "bound").includes("fresh"));
    expect(roomTexts(b, "bound")).toEqual(["fresh"]);
    expect(await metric(sys.gw(0), "rt_room_outbox_dropped_total", 'reason="age"')).toBe(1);
  });
});

describe("notifications: a gateway cut off from NATS", () => {
  test("a live-only socket opened while its gateway is cut off gets everything stored from the moment it opened", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true, proxied: true });
    await notify(sys, "pat", "before the socket");
    sys.proxy(sys.gw(0)).cut();
    await readyIs(sys.gw(0), 503);
    await using s = await inbox(sys.gw(0), "pat");
    const stored = [];
    for (let i = 0; i < 3; i++) stored.push(await notify(sys, "pat", `while cut ${i}`));
    sys.proxy(sys.gw(0)).restore();
    await s.waitForMessages(3, 10_000);
    const live = await notify(sys, "pat", "live");
    await s.waitForMessages(4);
    await Bun.sleep(200);
    expect(frames(s).map((f) => f.seq)).toEqual([...stored, live].map((r) => r.seq));
  });

  test("a live-only socket whose first read was in flight when the link dropped gets everything stored from the moment it opened", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true, proxied: true });
    await notify(sys, "quinn", "before the socket");
    const proxy = sys.proxy(sys.gw(0));
    proxy.delay(400);
    await using s = await inbox(sys.gw(0), "quinn");
    await Bun.sleep(100); // its subscription and first read are inside the proxy's delay now
    proxy.cut();
    const stored = [];
    for (let i = 0; i < 3; i++) stored.push(await notify(sys, "quinn", `while cut ${i}`));
    proxy.delay(0);
    proxy.restore();
    await s.waitForMessages(3, 10_000);
    await Bun.sleep(200);
    expect(frames(s).map((f) => f.seq)).toEqual(stored.map((r) => r.seq));
  });

  test("a stale live event (an idempotent repeat of an old notification) never rewinds a live-only socket", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true, proxied: true });
    const first = await notify(sys, "rae", "the first", { idempotency_key: "k1" });
    for (let i = 0; i < 5; i++) await notify(sys, "rae", `old ${i}`);
    const nc = await connect({ ...NATS_ADMIN, servers: sys.nats.url });
    // The repeat re-announces the first notification (prev_seq 0) while sockets open and ask for the newest seq.
    let repeating = true;
    const repeats = (async () => {
      while (repeating) {
        await notify(sys, "rae", "the first", { idempotency_key: "k1" });
        await Bun.sleep(1);
      }
    })();
    const proxy = sys.proxy(sys.gw(0));
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 10; i++) {
      proxy.delay(i % 2 === 0 ? 0 : 150);
      sockets.push(await inbox(sys.gw(0), "rae"));
      await Bun.sleep(30);
    }
    proxy.delay(0);
    repeating = false;
    await repeats;
    const live = await notify(sys, "rae", "new");
    for (const s of sockets) await s.waitForMessages(1);
    await Bun.sleep(300);
    for (const s of sockets) expect(frames(s).map((f) => f.seq)).toEqual([live.seq]);
    expect(first.seq).toBeLessThan(live.seq);
    for (const s of sockets) s.close();
    await nc.close();
    void userLiveSubject;
  });
});
