import { expect, test } from "bun:test";
import { TestSocket, TestSystem, waitFor } from "@rt/testkit";

// The ROOMS stream republishes out of order under load (nats-server 2.9.10: hundreds of positions,
// tens of ms): gateways must put the chain back together, not skip what comes late.
test("two gateways flooding one room: every member gets every message exactly once, each sender's in order", async () => {
  await using sys = await TestSystem.start({ gateways: 2, gatewayEnv: { RATE_LIMIT_PER_SEC: "0" } });
  const members = [await TestSocket.open(`${sys.gw(0).ws}/chat/flood`), await TestSocket.open(`${sys.gw(1).ws}/chat/flood`)];
  const senders = [members[0]!, await TestSocket.open(`${sys.gw(1).ws}/chat/flood`)];
  await Bun.sleep(300);
  const N = 10_000;
  for (let i = 0; i < N; i++) {
    senders[0]!.send(`a${i}`);
    senders[1]!.send(`b${i}`);
    if (i % 500 === 499) await Bun.sleep(5);
  }
  for (const m of [...members, senders[1]!]) await waitFor("all of them", () => m.messages.length >= 2 * N, 30_000);
  await Bun.sleep(300);
  for (const m of [...members, senders[1]!]) {
    const texts = m.messages.map((x) => x.slice("Room flood: ".length));
    expect(texts).toHaveLength(2 * N);
    expect(new Set(texts).size).toBe(2 * N);
    for (const p of ["a", "b"]) {
      const mine = texts.filter((t) => t.startsWith(p)).map((t) => Number(t.slice(1)));
      expect(mine).toEqual(Array.from({ length: N }, (_, i) => i));
    }
  }
  for (const s of [...members, senders[1]!]) s.close();
}, 60_000);
