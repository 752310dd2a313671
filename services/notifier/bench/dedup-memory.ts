/**
 * What JetStream's dedup entries cost in nats-server memory: N notifications through a real
 * notifier, with and without an idempotency_key, and the server's resident memory before and
 * after (`bun run services/notifier/bench/dedup-memory.ts [N=30000] [senders=16]`).
 * Only keyed notifications take a dedup entry (kept for NOTIFIER_DEDUP_WINDOW, 1 h by default).
 */
import { ServiceProcess, TestNats, rssBytes } from "@rt/testkit";

const n = Number(process.argv[2] ?? 30_000);
const senders = Number(process.argv[3] ?? 16);

async function run(keyed: boolean): Promise<number> {
  await using nats = await TestNats.start();
  await using svc = await ServiceProcess.start("notifier", { NATS_URL: nats.url, LOG_LEVEL: "warn" });
  const url = `${svc.http}/notifications`;
  const send = (i: number) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: `u${i % 1000}`, body: "x", ...(keyed ? { idempotency_key: `k${i}` } : {}) }) }).then((r) => r.arrayBuffer());
  for (let i = 0; i < 200; i++) await send(-i - 1); // warm up: the stream, the 1,000 subjects' first entries
  await Bun.sleep(500);
  const before = rssBytes(nats.pid!);
  let next = 0;
  await Promise.all(Array.from({ length: senders }, async () => {
    while (next < n) await send(next++);
  }));
  await Bun.sleep(1000);
  const after = rssBytes(nats.pid!);
  const perMsg = (after - before) / n;
  console.log(`${keyed ? "with idempotency_key" : "without key        "}: nats-server RSS ${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB for ${n} notifications: ${perMsg.toFixed(0)} bytes each`);
  return perMsg;
}

const keyed = await run(true);
const plain = await run(false);
console.log(`a dedup entry costs about ${(keyed - plain).toFixed(0)} bytes of server memory for the whole window; at 1,000/s with the 1 h default that is ${(((keyed - plain) * 3_600_000) / 2 ** 20).toFixed(0)} MiB, now spent only on keyed requests`);
