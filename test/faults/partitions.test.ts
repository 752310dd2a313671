import { describe, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { userLiveSubject, userStoreSubject } from "@rt/protocol";
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
    // Held by the cut-off gateway until NATS confirms them, which it cannot.
    await waitFor("the 20 held", async () => (await metric(sys.gw(0), "rt_room_outbox_held")) >= 20);
    expect(roomTexts(b, "cut")).toEqual(["before"]);

    sys.proxy(sys.gw(0)).restore();
    await readyIs(sys.gw(0), 200);
    a.send("after");
    const expected = ["before", ...Array.from({ length: 20 }, (_, i) => `during ${i}`), "after"];
    await waitFor("all of them on the other gateway", () => roomTexts(b, "cut").length >= expected.length, 10_000);
    // Probes after them, from each gateway through the stream: a repeat would have come before.
    await roomJoined(a, [b], "cut");
    await roomJoined(b, [a], "cut");
    expect(roomTexts(b, "cut")).toEqual(expected);
    expect(roomTexts(a, "cut")).toEqual(expected);
  });

  test("a cut in the middle of a steady flow: what was in flight is stored once (read back after the reconnect, or sent again) and received once", async () => {
    await using sys = await TestSystem.start({ gateways: 2, proxied: true, gatewayEnv: { RATE_LIMIT_PER_SEC: "0" } });
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/flow`);
    await using b = await TestSocket.open(`${sys.gw(1).ws}/chat/flow`);
    await roomJoined(a, [b], "flow");
    const sent: string[] = [];
    const delaySet = Promise.withResolvers<void>();
    const sender = (async () => {
      for (let i = 0; i < 300; i++) {
        if (i === 100) await delaySet.promise; // so that some are sent after the delay below, under any load
        a.send(`m${i}`);
        sent.push(`m${i}`);
        await Bun.sleep(5); // a steady flow for the cut to fall into (its pace changes no check)
      }
    })();
    await waitFor("some through", () => roomTexts(b, "flow").length > 40);
    // NATS gets the messages but its confirmations (PONGs) are held back (longer than this test
    // waits for anything): once b has one sent after that, it was delivered yet looks unconfirmed
    // at the cut; the gateway reads it back after the reconnect (or sends it again, and the stream
    // recognizes the repeat): stored once either way.
    const heldFrom = sent.length;
    sys.proxy(sys.gw(0)).delay(10_000, "toClient");
    delaySet.resolve();
    await waitFor("one delivered while its confirmation is held", () => roomTexts(b, "flow").length > heldFrom);
    sys.proxy(sys.gw(0)).cut();
    sys.proxy(sys.gw(0)).delay(0);
    await readyIs(sys.gw(0), 503); // the gateway has seen its link drop
    sys.proxy(sys.gw(0)).restore();
    await sender;
    await waitFor("all through", () => roomTexts(b, "flow").length >= 300, 10_000);
    await roomJoined(a, [b], "flow"); // a probe after them: a repeat would have come before
    expect(roomTexts(b, "flow")).toEqual(sent);
    // Stored once: no gateway met a second copy of one (it would drop it, counted).
    for (const gw of [sys.gw(0), sys.gw(1)]) expect(await metric(gw, "rt_rejections_total", 'reason="stored_repeat"')).toBe(0);
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
    await roomJoined(a, [b], "bound"); // a probe after them: anything else held would have come before
    const got = roomTexts(b, "bound").map((t) => Number(t.slice(0, 2)));
    expect(got.length).toBeGreaterThan(5);
    expect(got.length).toBeLessThan(40);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => 40 - got.length + i)); // the newest, in order
    expect(await metric(sys.gw(0), "rt_room_outbox_dropped_total", 'reason="bytes"')).toBe(40 - got.length);

    b.messages.length = 0;
    proxy.cut();
    await readyIs(sys.gw(0), 503);
    a.send("too old");
    // Past ROOM_OUTBOX_MAX_AGE (1.5 s) from when the gateway took it in, which was before its member
    // had it: an age is time itself, so this waits on the clock, from an observed event.
    await waitFor("the local member has it", () => roomTexts(a, "bound").includes("too old"));
    const heldBy = Date.now();
    await waitFor("too old past ROOM_OUTBOX_MAX_AGE", () => Date.now() > heldBy + 1500, 5000, 25);
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
    const marker = await notify(sys, "pat", "marker"); // one user's arrive in seq order: anything more would come before it
    await s.until(() => frames(s).some((f) => f.seq === marker.seq), "the marker");
    expect(frames(s).map((f) => f.seq)).toEqual([...stored, live, marker].map((r) => r.seq));
  });

  test("a live-only socket whose first read was in flight when the link dropped gets everything stored from the moment it opened", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true, proxied: true });
    await notify(sys, "quinn", "before the socket");
    const proxy = sys.proxy(sys.gw(0));
    proxy.delay(400);
    proxy.mark();
    await using s = await inbox(sys.gw(0), "quinn");
    // Its subscription and first read are inside the proxy's delay now: both seen reaching the proxy.
    await waitFor("the subscription and the first read at the proxy", () => proxy.sentToUpstream.includes(`SUB ${userLiveSubject("quinn")} `) && proxy.sentToUpstream.includes(userStoreSubject("quinn")));
    proxy.cut();
    const stored = [];
    for (let i = 0; i < 3; i++) stored.push(await notify(sys, "quinn", `while cut ${i}`));
    proxy.delay(0);
    proxy.restore();
    await s.waitForMessages(3, 10_000);
    const marker = await notify(sys, "quinn", "marker");
    await s.until(() => frames(s).some((f) => f.seq === marker.seq), "the marker");
    expect(frames(s).map((f) => f.seq)).toEqual([...stored, marker].map((r) => r.seq));
  });

  test("a stale live event (an idempotent repeat of an old notification) never rewinds a live-only socket", async () => {
    await using sys = await TestSystem.start({ gateways: 1, notifier: true, proxied: true });
    const first = await notify(sys, "rae", "the first", { idempotency_key: "k1" });
    for (let i = 0; i < 5; i++) await notify(sys, "rae", `old ${i}`);
    const nc = await connect({ ...NATS_ADMIN, servers: sys.nats.url });
    // The repeat re-announces the first notification (prev_seq 0) while sockets open and ask for the newest seq.
    let repeating = true;
    let repeated = 0;
    const repeats = (async () => {
      while (repeating) {
        await notify(sys, "rae", "the first", { idempotency_key: "k1" });
        repeated++;
      }
    })();
    const proxy = sys.proxy(sys.gw(0));
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 10; i++) {
      proxy.delay(i % 2 === 0 ? 0 : 150);
      sockets.push(await inbox(sys.gw(0), "rae"));
      const r = repeated;
      await waitFor("a repeat after this socket opened", () => repeated > r); // sockets and repeats interleave
    }
    proxy.delay(0);
    repeating = false;
    await repeats;
    const live = await notify(sys, "rae", "new");
    const marker = await notify(sys, "rae", "marker"); // in seq order after it: a rewind would show before
    for (const s of sockets) await s.until(() => frames(s).some((f) => f.seq === marker.seq), "the marker");
    for (const s of sockets) expect(frames(s).map((f) => f.seq)).toEqual([live.seq, marker.seq]);
    expect(first.seq).toBeLessThan(live.seq);
    for (const s of sockets) s.close();
    await nc.close();
    void userLiveSubject;
  });
});
