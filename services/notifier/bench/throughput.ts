/**
 * Acknowledged notifications per second through a real notifier and nats-server (file store):
 * `bun run bench/throughput.ts [seconds=5] [senders=16]`. Prints one line per scenario; asserts nothing.
 */
import { ServiceProcess, TestNats } from "@rt/testkit";

const seconds = Number(process.argv[2] ?? 5);
const senders = Number(process.argv[3] ?? 16);

await using nats = await TestNats.start();
await using svc = await ServiceProcess.start("notifier", { NATS_URL: nats.url, LOG_LEVEL: "warn" });
const url = `${svc.http}/notifications`;
const body = "x".repeat(200);

async function run(name: string, userFor: (sender: number) => string, extra: object = {}): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  const statuses: Record<number, number> = {};
  const latencies: number[] = [];
  const sender = async (i: number) => {
    while (performance.now() < deadline) {
      const t = performance.now();
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: userFor(i), body, ...extra }) });
      await res.arrayBuffer();
      latencies.push(performance.now() - t);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: senders }, (_, i) => sender(i)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!.toFixed(1);
  const acked = (statuses[202] ?? 0) + (statuses[200] ?? 0);
  console.log(`${name}: ${Math.round(acked / elapsed)} acked/s over ${elapsed.toFixed(1)} s with ${senders} senders; p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; statuses ${JSON.stringify(statuses)}`);
}

await run("one user per sender", (i) => `bench-user-${i}`);
await run("all senders, one user", () => "bench-shared");
await run("a new user per request", () => `u-${Math.random().toString(36).slice(2)}`);
