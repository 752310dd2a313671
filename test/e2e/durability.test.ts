import { describe, expect, test } from "bun:test";
import { ResumingClient, TestSystem, auditSeqs, signToken, waitFor } from "@rt/testkit";

/** POSTs one notification; returns its seq (throws on anything but 202). */
async function notify(sys: TestSystem, user_id: string, body: string, extra: Record<string, unknown> = {}): Promise<{ id: string; seq: number; delivered?: boolean }> {
  const r = await fetch(`${sys.notifier!.http}/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id, body, ...extra }),
  });
  if (r.status !== 202) throw new Error(`notifier answered ${r.status}: ${await r.text()}`);
  return (await r.json()) as { id: string; seq: number; delivered?: boolean };
}

async function clientFor(sys: TestSystem, user: string, gw: () => number): Promise<ResumingClient> {
  const token = await signToken(user);
  return new ResumingClient((since) => `${sys.gw(gw()).ws}/notifications?token=${token}${since === undefined ? "" : `&since=${since}`}`);
}

describe("notifications are never lost", () => {
  test("kill -9 a gateway while 300 notifications flow: the client resumes on another gateway and gets each acked one exactly once, in order", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true });
    let gw = 0;
    const client = await clientFor(sys, "kim", () => gw);
    await client.connect();
    const acked: number[] = [];
    const sender = (async () => {
      for (let i = 0; i < 300; i++) {
        acked.push((await notify(sys, "kim", `n${i}`)).seq);
        await Bun.sleep(2); // a steady flow for the kill to fall into (its pace changes no check)
      }
    })();
    await waitFor("some delivered", () => client.seqs.length >= 60);
    sys.gw(0).proc.kill("SIGKILL");
    await client.closed();
    gw = 1;
    await client.connect();
    await sender;
    await waitFor("all delivered", () => client.seqs.length >= acked.length, 15_000);
    // A marker after them (one user's arrive in seq order): a repeat would have come before it.
    acked.push((await notify(sys, "kim", "marker")).seq);
    await waitFor("the marker", () => client.seqs.includes(acked.at(-1)!), 15_000);
    expect(auditSeqs(client.seqs, acked)).toEqual({ missing: [], duplicates: 0, outOfOrder: 0 });
    expect(client.seqs).toEqual(acked);
  });

  test("nats-server stopped and restarted on the same store: acked ones stay replayable, the notifier says 503 meanwhile, live delivery resumes with no restart", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true });
    const live = await clientFor(sys, "lee", () => 1);
    await live.connect();
    const acked: number[] = [];
    for (let i = 0; i < 20; i++) acked.push((await notify(sys, "lee", `before ${i}`)).seq);
    await waitFor("live before", () => live.seqs.length === 20);

    await sys.nats.stop();
    const during = await fetch(`${sys.notifier!.http}/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user_id: "lee", body: "while down" }),
    });
    expect(during.status).toBe(503);
    expect(during.headers.get("retry-after")).not.toBeNull();
    await sys.nats.restart();

    await waitFor("notifier ready", async () => (await fetch(`${sys.notifier!.http}/readyz`)).status === 200, 20_000);
    for (let i = 0; i < 20; i++) acked.push((await notify(sys, "lee", `after ${i}`)).seq);
    await waitFor("live after", () => live.seqs.length >= 40, 20_000);
    expect(live.seqs).toEqual(acked);
    expect(live.closes).toBe(0);

    const replay = await clientFor(sys, "lee", () => 0);
    await replay.connect(); // since=0
    await waitFor("replayed", () => replay.seqs.length >= 40);
    expect(replay.seqs).toEqual(acked);
    replay.close();
    live.close();
  });

  test("delivery receipts: true for an online user, false for an offline one", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true });
    const online = await clientFor(sys, "online-user", () => 1);
    await online.connect(false);
    // Live first (a notification has come through), so the receipt's 3 s measure delivery, not the
    // socket's start on a loaded machine.
    const warm = await notify(sys, "online-user", "warm-up");
    await waitFor("the socket live", () => online.seqs.includes(warm.seq));
    const yes = await notify(sys, "online-user", "hi", { wait_for_delivery_ms: 3000 });
    expect(yes.delivered).toBe(true);
    const t0 = Date.now();
    const no = await notify(sys, "offline-user", "hi", { wait_for_delivery_ms: 300 });
    expect(no.delivered).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    online.close();
  });

  test("churn: 200 clients of 50 users, each dropped about once a second and resuming with since, while 5,000 notifications flow: 100% delivered, no duplicate", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true });
    const USERS = 50;
    const PER_USER = 4;
    const TOTAL = 5000;
    const users = Array.from({ length: USERS }, (_, i) => `churn-${i}`);
    const clients: Array<{ user: string; c: ResumingClient }> = [];
    for (const user of users) {
      for (let k = 0; k < PER_USER; k++) {
        const c = await clientFor(sys, user, () => (Math.random() < 0.5 ? 0 : 1));
        await c.connect(); // since=0: every notification of the user is owed to every client
        clients.push({ user, c });
      }
    }
    let sending = true;
    const churn = (async () => {
      const tick = 50; // each client is dropped with probability tick/1000 per tick: about once a second
      while (sending) {
        await Bun.sleep(tick); // the churn's pace: a client's chance of a drop per tick; no check depends on it
        await Promise.all(clients.map(async ({ c }) => {
          if (Math.random() < tick / 1000 && c.open) {
            await c.drop();
            await c.connect();
          }
        }));
      }
    })();
    const acked = new Map<string, number[]>(users.map((u) => [u, []]));
    let next = 0;
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < TOTAL) {
        const i = next++;
        const user = users[i % USERS]!;
        const { seq } = await notify(sys, user, `m${i}`);
        acked.get(user)!.push(seq);
        await Bun.sleep(25); // about 600 a second in all, so the churn runs for several seconds
      }
    }));
    const sendSeconds = (Date.now() - t0) / 1000;
    sending = false;
    await churn;
    for (const { c } of clients) if (!c.open) await c.connect();
    for (const a of acked.values()) a.sort((x, y) => x - y);
    await waitFor("every client has everything", () => clients.every(({ user, c }) => new Set(c.seqs).size >= acked.get(user)!.length), 30_000);
    // A marker per user after everything: a repeat would have come before it on each client.
    for (const user of users) acked.get(user)!.push((await notify(sys, user, "marker")).seq);
    await waitFor("every client has its marker", () => clients.every(({ user, c }) => c.seqs.includes(acked.get(user)!.at(-1)!)), 30_000);
    let delivered = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let missing = 0;
    for (const { user, c } of clients) {
      const audit = auditSeqs(c.seqs, acked.get(user)!);
      delivered += new Set(c.seqs).size;
      duplicates += audit.duplicates;
      outOfOrder += audit.outOfOrder;
      missing += audit.missing.length;
    }
    const closes = clients.reduce((n, { c }) => n + c.closes, 0);
    console.log(`churn: ${TOTAL} notifications in ${sendSeconds.toFixed(1)} s to ${clients.length} clients; ${closes} forced reconnects; delivered ${delivered}/${(TOTAL + USERS) * PER_USER} (${((100 * delivered) / ((TOTAL + USERS) * PER_USER)).toFixed(2)}%), duplicates ${duplicates}, out of order ${outOfOrder}`);
    expect(missing).toBe(0);
    expect(duplicates).toBe(0);
    expect(outOfOrder).toBe(0);
    expect(delivered).toBe((TOTAL + USERS) * PER_USER); // the markers too
    expect(closes).toBeGreaterThan(clients.length * sendSeconds * 0.3);
    for (const { c } of clients) c.close();
  }, 120_000);
});
