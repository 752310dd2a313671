import { expect, test } from "bun:test";
import { TestSocket, TestSystem, roomJoined, roomTexts, waitFor } from "@rt/testkit";

// The ROOMS stream republishes out of order under load (nats-server 2.9.10: hundreds of positions,
// tens of ms): gateways must put the chain back together, not skip what comes late.
test("two gateways flooding one room: every member gets every message exactly once, each sender's in order", async () => {
  await using sys = await TestSystem.start({ gateways: 2, gatewayEnv: { RATE_LIMIT_PER_SEC: "0" } });
  const members = [await TestSocket.open(`${sys.gw(0).ws}/chat/flood`), await TestSocket.open(`${sys.gw(1).ws}/chat/flood`)];
  const senders = [members[0]!, await TestSocket.open(`${sys.gw(1).ws}/chat/flood`)];
  const all = [...members, senders[1]!];
  // The room live on both gateways, both ways (probes are left out below).
  await roomJoined(senders[0]!, all, "flood");
  await roomJoined(senders[1]!, all, "flood");
  const N = 10_000;
  for (let i = 0; i < N; i++) {
    senders[0]!.send(`a${i}`);
    senders[1]!.send(`b${i}`);
    // Lets the sockets' I/O run every 500 pairs (a pace for the sender, not a wait for anything).
    if (i % 500 === 499) await Bun.sleep(5);
  }
  /** Flood messages a socket has (each frame looked at once: there are 20,000). */
  const counts = new Map(all.map((m) => [m, { read: 0, n: 0 }]));
  const floodCount = (m: TestSocket) => {
    const c = counts.get(m)!;
    for (; c.read < m.messages.length; c.read++) if (!m.messages[c.read]!.startsWith("Room flood: probe-")) c.n++;
    return c.n;
  };
  for (const m of all) await waitFor("all of them", () => floodCount(m) >= 2 * N, 30_000);
  // Probes from both senders after the flood: a repeat of any message would have come before them.
  await roomJoined(senders[0]!, all, "flood");
  await roomJoined(senders[1]!, all, "flood");
  for (const m of all) {
    const texts = roomTexts(m, "flood");
    expect(texts).toHaveLength(2 * N);
    expect(new Set(texts).size).toBe(2 * N);
    for (const p of ["a", "b"]) {
      const mine = texts.filter((t) => t.startsWith(p)).map((t) => Number(t.slice(1)));
      expect(mine).toEqual(Array.from({ length: N }, (_, i) => i));
    }
  }
  for (const s of all) s.close();
}, 60_000);
