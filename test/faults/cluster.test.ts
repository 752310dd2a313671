import { describe, expect, test } from "bun:test";
import { NOTIFICATIONS_STREAM } from "@rt/protocol";
import { ResumingClient, TestSocket, TestSystem, auditSeqs, signToken, waitFor } from "@rt/testkit";
import { roomJoined, roomTexts } from "./helpers.ts";

/** A sender that retries each notification with its idempotency_key until it is acknowledged, timing every wait. */
class RetryingSender {
  readonly acked = new Map<string, number[]>();
  readonly ids = new Map<string, string>();
  statuses: Record<string, number> = {};
  longestWaitMs = 0;
  longestRequestMs = 0;
  constructor(private readonly url: string) {}

  async send(user: string, key: string): Promise<void> {
    const started = performance.now();
    for (;;) {
      const t = performance.now();
      let status = "error";
      let body: { id?: string; seq?: number } = {};
      try {
        const r = await fetch(this.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: user, body: key, idempotency_key: key }), signal: AbortSignal.timeout(15_000) });
        status = String(r.status);
        body = (await r.json()) as typeof body;
        if (r.status === 503) expect(r.headers.get("retry-after")).not.toBeNull();
      } catch {
        // the notifier's link to NATS is moving: retry
      }
      this.longestRequestMs = Math.max(this.longestRequestMs, performance.now() - t);
      this.statuses[status] = (this.statuses[status] ?? 0) + 1;
      if (status === "202" || status === "200") {
        const list = this.acked.get(user) ?? [];
        if (!list.includes(body.seq!)) list.push(body.seq!);
        this.acked.set(user, list);
        const id = this.ids.get(key);
        if (id !== undefined) expect(body.id).toBe(id);
        this.ids.set(key, body.id!);
        this.longestWaitMs = Math.max(this.longestWaitMs, performance.now() - started);
        return;
      }
      await Bun.sleep(100);
    }
  }
}

describe("on a 3-node NATS cluster with JETSTREAM_REPLICAS=3", () => {
  test("the inbox stream's leader killed while notifications flow: every acknowledged one once, in order, on every socket; 503 meanwhile, never a hang", async () => {
    await using sys = await TestSystem.start({ cluster: true, gateways: 2, notifier: true });
    const cluster = sys.cluster!;
    await cluster.waitStreamHealthy(NOTIFICATIONS_STREAM, 3);
    const users = ["ana", "ben"];
    const clients: Array<{ user: string; c: ResumingClient }> = [];
    for (const user of users) {
      const token = await signToken(user);
      for (const gw of [0, 1]) {
        const c = new ResumingClient((since, epoch) => `${sys.gw(gw).ws}/notifications?token=${token}&since=${since ?? 0}${epoch ? `&epoch=${epoch}` : ""}`);
        await c.connect();
        clients.push({ user, c });
      }
    }
    const sender = new RetryingSender(`${sys.notifier!.http}/notifications`);
    const total = 160;
    let sent = 0;
    const flow = (async () => {
      for (; sent < total; sent++) await sender.send(users[sent % 2]!, `n-${sent}`);
    })();
    await waitFor("some acknowledged", () => sent >= 40, 30_000);
    const leader = await cluster.streamLeader(NOTIFICATIONS_STREAM);
    await cluster.kill(leader);
    const killedAt = sent;
    await flow;
    expect(killedAt).toBeLessThan(total);

    // None twice: each key has one seq, and each user's seqs are distinct and growing.
    const stored = users.map((u) => sender.acked.get(u)!);
    for (const seqs of stored) {
      expect(seqs).toHaveLength(total / 2);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    }
    for (const { user, c } of clients) {
      const acked = sender.acked.get(user)!;
      await waitFor(`${user} has all`, () => c.seqs.length >= acked.length || !c.open, 30_000);
      if (!c.open) { // its gateway's NATS node was the one killed and the socket closed: resume like a client
        await c.connect();
        await waitFor(`${user} has all after resuming`, () => c.seqs.length >= acked.length, 30_000);
      }
      await Bun.sleep(200);
      expect(auditSeqs(c.seqs, acked)).toEqual({ missing: [], duplicates: 0, outOfOrder: 0 });
      c.close();
    }
    console.log(`leader ${leader} killed after ${killedAt} of ${total}: longest sender wait ${Math.round(sender.longestWaitMs)} ms, longest single request ${Math.round(sender.longestRequestMs)} ms, answers ${JSON.stringify(sender.statuses)}`);
    expect(sender.longestRequestMs).toBeLessThan(10_000); // a 503 in bounded time, never a hang
  });

  test("rooms cross gateways on a cluster, and survive the loss of any one node", async () => {
    await using sys = await TestSystem.start({ cluster: true, gateways: 2 });
    await using a = await TestSocket.open(`${sys.gw(0).ws}/chat/nodes`);
    await using b = await TestSocket.open(`${sys.gw(1).ws}/chat/nodes`);
    await roomJoined(a, [b], "nodes");
    a.send("one");
    await waitFor("one", () => roomTexts(b, "nodes").includes("one"));
    await sys.cluster!.kill("n1");
    for (let i = 0; i < 20; i++) {
      a.send(`after ${i}`);
      await Bun.sleep(50);
    }
    await waitFor("all after the loss", () => roomTexts(b, "nodes").includes("after 19"), 15_000);
    await Bun.sleep(300);
    expect(roomTexts(b, "nodes")).toEqual(["one", ...Array.from({ length: 20 }, (_, i) => `after ${i}`)]);
  });
});

describe("a rolling restart", () => {
  test("SIGTERM one of two gateways while notifications flow: a client that resumes with since and epoch on the other loses nothing and gets nothing twice", async () => {
    await using sys = await TestSystem.start({ gateways: 2, notifier: true });
    const token = await signToken("rollo");
    let gw = 0;
    const c = new ResumingClient((since, epoch) => `${sys.gw(gw).ws}/notifications?token=${token}${since === undefined ? "" : `&since=${since}`}${epoch ? `&epoch=${epoch}` : ""}`);
    await c.connect(false);
    await Bun.sleep(200);
    const acked: number[] = [];
    const url = `${sys.notifier!.http}/notifications`;
    const flow = (async () => {
      for (let i = 0; i < 200; i++) {
        const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id: "rollo", body: `r${i}` }) });
        expect(r.status).toBe(202);
        acked.push(((await r.json()) as { seq: number }).seq);
        await Bun.sleep(3);
      }
    })();
    await waitFor("some delivered", () => c.seqs.length >= 50);
    const exit = sys.gw(0).stop("SIGTERM");
    await c.closed();
    gw = 1;
    await c.connect();
    expect(await exit).toBe(0);
    await flow;
    await waitFor("all delivered", () => c.seqs.length >= acked.length, 15_000);
    await Bun.sleep(200);
    expect(auditSeqs(c.seqs, acked)).toEqual({ missing: [], duplicates: 0, outOfOrder: 0 });
    expect(c.closes).toBe(1);
    c.close();
  });
});
