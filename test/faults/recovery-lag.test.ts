import { describe, expect, test } from "bun:test";
import { SdkClient, TestSystem, signToken } from "@rt/testkit";

/**
 * Found by the chaos run (`bun run chaos --seconds 30 --seed 2`): a client that had seen a room up to
 * offset N on one gateway reconnected to another whose copy of the room was behind (its NATS link
 * had just come back, and it was still reading what it missed). The gateway answered `recovered:
 * false` at its own, older position, then fanned out the publications up to N as it caught up,
 * so the client got every one of them a second time (314 duplicates in that run).
 */
describe("recovering on a gateway that is behind the client", () => {
  test("a recovery from an offset this gateway has not fanned out yet waits for it: recovered, nothing twice, nothing missed", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true, proxied: true });
    const url = (gw: number) => `${sys.gw(gw).ws}/connection/websocket`;
    const room = "chat:lagging";
    // Gateway 1 serves the room too (a member there), so its copy of the room is live, and then lags:
    // everything NATS sends it arrives 1 s late.
    await using member = SdkClient.create(url(1), { token: await signToken("member") });
    await member.connect();
    await member.subscribe(room);
    // The client's next connection, already open on gateway 1 (a connect waits for NATS: it would hide the lag).
    await using moved = SdkClient.create(url(1), { token: await signToken("mover") });
    await moved.connect();
    await using first = SdkClient.create(url(0), { token: await signToken("mover") });
    await first.connect();
    await first.subscribe(room);
    const publish = (n: number) =>
      fetch(`${sys.notifier!.http}/api/publish`, { method: "POST", body: JSON.stringify({ channel: room, data: { n } }) }).then((r) => r.json() as Promise<{ result: { offset: number } }>);
    await publish(0);
    await first.waitFor(room, 1);
    await member.waitFor(room, 1);
    sys.proxy(sys.gw(1)).delay(1000, "toClient");
    for (let n = 1; n <= 5; n++) await publish(n);
    await first.waitFor(room, 6);
    const last = first.publications.filter((p) => p.channel === room).at(-1)!;
    const epoch = first.subscribed.find((s) => s.channel === room)!.epoch!;
    first.centrifuge.disconnect();

    // The client moves to gateway 1 while gateway 1 has not fanned out 1..5 yet.
    await moved.subscribe(room, { since: { offset: last.offset, epoch } });
    expect(moved.subscribed.find((s) => s.channel === room)).toMatchObject({ wasRecovering: true, recovered: true });
    // Positive control: a marker published afterwards is the first and only publication it gets.
    sys.proxy(sys.gw(1)).delay(0);
    await publish(6);
    await member.waitFor(room, 7, 10_000);
    await moved.until(() => moved.data(room).some((d) => (d as { n: number }).n === 6), "the marker", 10_000);
    expect(moved.data(room)).toEqual([{ n: 6 }]);
    expect(member.data(room)).toEqual([0, 1, 2, 3, 4, 5, 6].map((n) => ({ n })));
  });
});
