// Inboxes (`/notifications` sockets) in one process on the memory broker: a gateway's Inbox with
// real WebSocket subscribers, and a stand-in for the notifier that stores and announces
// notifications as it does (the stream, then the live subject). Resume by seq and epoch, a lost
// live event read back as a gap, a dropped link replayed, a new epoch, delivery receipts.
import { describe, expect, test } from "bun:test";
import type { ServerWebSocket } from "bun";
import { DiscardPolicy, StorageType } from "@nats-io/jetstream";
import { NOTIFICATIONS_STREAM, NOTIFY_USER_WILDCARD, epochOf, userLiveSubject, userStoreSubject, type NotificationFrame } from "@rt/protocol";
import { Metrics, createLogger } from "@rt/runtime";
import { waitFor } from "@rt/testkit";
import { MemoryBroker } from "../src/broker/broker-memory.ts";
import { MemoryNats } from "../src/broker/memory-nats.ts";
import { Inbox, inboxSub, type InboxStart, type InboxSub } from "../src/channels/inbox.ts";
import { JetStreamNotificationStore } from "../src/channels/inbox-store.ts";
import { StreamEpoch } from "../src/channels/stream-epoch.ts";
import { Rejections } from "../src/rejections.ts";

const log = createLogger("test", "silent");
const KEPT_PER_USER = 20;

/** Stores and announces notifications as the notifier does. */
class StandInNotifier {
  readonly broker: MemoryBroker;
  private ids = 0;
  constructor(nats: MemoryNats) {
    this.broker = new MemoryBroker(nats, log);
  }

  async start(): Promise<void> {
    await this.broker.connect();
    await this.broker.streams()!.ensure({ name: NOTIFICATIONS_STREAM, subjects: [NOTIFY_USER_WILDCARD], storage: StorageType.Memory, max_msgs_per_subject: KEPT_PER_USER, discard: DiscardPolicy.Old, num_replicas: 1 });
  }

  /** Stores one notification for `user` (its seq), then publishes it live. */
  async notify(user: string, body: string): Promise<number> {
    const streams = this.broker.streams()!;
    const last = await streams.get(NOTIFICATIONS_STREAM, { last_by_subj: userStoreSubject(user) });
    const stored = { id: `n${++this.ids}`, user_id: user, body, created_at: new Date().toISOString(), prev_seq: last?.seq ?? 0 };
    const ack = await this.broker.request(userStoreSubject(user), JSON.stringify(stored), 5000);
    const seq: number = ack.json<{ seq: number }>().seq;
    const epoch = epochOf((await streams.info(NOTIFICATIONS_STREAM)).created);
    this.broker.publish(userLiveSubject(user), JSON.stringify({ ...stored, seq, epoch }));
    return seq;
  }
}

interface SocketData {
  user: string;
  start: InboxStart;
  sub?: InboxSub;
}

/** A gateway's inbox on its own memory connection, served to WebSocket clients at `/?user=…[&since=…&epoch=…]`. */
class InboxGateway {
  readonly broker: MemoryBroker;
  readonly epoch: StreamEpoch;
  readonly inbox: Inbox;
  readonly server;

  constructor(nats: MemoryNats) {
    this.broker = new MemoryBroker(nats, log, { noEcho: true });
    const rejections = new Rejections(new Metrics());
    this.epoch = new StreamEpoch(NOTIFICATIONS_STREAM, this.broker, log, "the notifier");
    this.inbox = new Inbox(this.broker, new JetStreamNotificationStore(this.broker, () => undefined), this.epoch, rejections, log, 1024 * 1024);
    this.server = Bun.serve<SocketData>({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req, server) => {
        const q = new URL(req.url).searchParams;
        const since = q.get("since");
        const start: InboxStart = since === null ? { kind: "live" } : { kind: "since", since: Number(since), epoch: q.get("epoch") ?? undefined };
        return server.upgrade(req, { data: { user: q.get("user")!, start } }) ? undefined : new Response("upgrade", { status: 400 });
      },
      websocket: {
        open: (ws: ServerWebSocket<SocketData>) => {
          ws.data.sub = inboxSub(ws, ws.data.user, "legacy", ws.data.start, () => ws.close(1013));
          this.inbox.open(ws.data.sub);
        },
        message: (ws) => void ws.send("opened"),
        close: (ws) => ws.data.sub && this.inbox.close(ws.data.sub),
        drain: (ws) => ws.data.sub && this.inbox.drain(ws.data.sub),
      },
    });
  }

  async start(): Promise<void> {
    this.epoch.start();
    await this.broker.connect();
    await waitFor("the inbox's epoch", () => this.epoch.current !== undefined);
  }

  /** A `/notifications` client, its subscription opened. */
  async client(user: string, since?: { since: number; epoch?: string }): Promise<{ frames: NotificationFrame[]; close(): void }> {
    const q = new URLSearchParams({ user, ...(since ? { since: String(since.since), ...(since.epoch ? { epoch: since.epoch } : {}) } : {}) });
    const ws = new WebSocket(`ws://127.0.0.1:${this.server.port}/?${q}`);
    const frames: NotificationFrame[] = [];
    const opened = Promise.withResolvers<void>();
    ws.onmessage = (e) => (e.data === "opened" ? opened.resolve() : frames.push(JSON.parse(String(e.data))));
    ws.onopen = () => ws.send("open?");
    ws.onerror = () => opened.reject(new Error("the socket failed"));
    await opened.promise;
    return { frames, close: () => ws.close() };
  }

  async stop(): Promise<void> {
    this.epoch.stop();
    await this.broker.close();
    await this.server.stop(true);
  }
}

async function world(): Promise<{ nats: MemoryNats; notifier: StandInNotifier; gw: InboxGateway } & AsyncDisposable> {
  const nats = new MemoryNats();
  const notifier = new StandInNotifier(nats);
  await notifier.start();
  const gw = new InboxGateway(nats);
  await gw.start();
  return { nats, notifier, gw, [Symbol.asyncDispose]: () => gw.stop() };
}

const seqs = (frames: NotificationFrame[]) => frames.map((f) => f.seq);

describe("inboxes on the memory broker", () => {
  test("live: a user's notifications arrive once, in order, with the stream's epoch; another user's never", async () => {
    await using w = await world();
    const alice = await w.gw.client("alice");
    const bob = await w.gw.client("bob");
    await waitFor("positioned", () => w.gw.inbox.subscriptionCount === 2);
    const sent: number[] = [];
    for (let i = 0; i < 10; i++) sent.push(await w.notifier.notify("alice", `a${i}`));
    const forBob = await w.notifier.notify("bob", "b0");
    await waitFor("10 for alice", () => alice.frames.length === 10);
    await waitFor("1 for bob", () => bob.frames.length === 1);
    expect(seqs(alice.frames)).toEqual(sent);
    expect(alice.frames.map((f) => f.body)).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`));
    expect(bob.frames[0]!.seq).toBe(forBob);
    const epoch = w.gw.epoch.current!;
    expect(alice.frames.every((f) => f.epoch === epoch && f.user_id === "alice")).toBe(true);
  });

  test("resume: `since` a seq of this epoch gives what came after it, then live; another epoch starts from the beginning", async () => {
    await using w = await world();
    const sent: number[] = [];
    for (let i = 0; i < 5; i++) sent.push(await w.notifier.notify("carol", `c${i}`));
    const epoch = w.gw.epoch.current!;
    const resumed = await w.gw.client("carol", { since: sent[1]!, epoch });
    await waitFor("3 read back", () => resumed.frames.length === 3);
    expect(seqs(resumed.frames)).toEqual(sent.slice(2));
    sent.push(await w.notifier.notify("carol", "c5"));
    await waitFor("then live", () => resumed.frames.length === 4);
    expect(seqs(resumed.frames)).toEqual(sent.slice(2));
    const stale = await w.gw.client("carol", { since: sent[4]!, epoch: "an-old-one" });
    await waitFor("all 6", () => stale.frames.length === 6);
    expect(seqs(stale.frames)).toEqual(sent);
  });

  test("a live event lost in transit: the next one shows the gap, which is read from the stream", async () => {
    await using w = await world();
    const dave = await w.gw.client("dave");
    await waitFor("positioned", () => w.gw.inbox.subscriptionCount === 1);
    const first = await w.notifier.notify("dave", "d0");
    await waitFor("1", () => dave.frames.length === 1);
    w.nats.loseWhen((subject, conn) => subject === userLiveSubject("dave") && conn === w.gw.broker.conn);
    const lost = await w.notifier.notify("dave", "d1");
    w.nats.loseWhen(undefined);
    const third = await w.notifier.notify("dave", "d2");
    await waitFor("3", () => dave.frames.length === 3);
    expect(seqs(dave.frames)).toEqual([first, lost, third]);
  });

  test("the gateway's link drops: what was stored meanwhile is read after the reconnect, once", async () => {
    await using w = await world();
    const erin = await w.gw.client("erin");
    await waitFor("positioned", () => w.gw.inbox.subscriptionCount === 1);
    const sent = [await w.notifier.notify("erin", "e0")];
    await waitFor("1", () => erin.frames.length === 1);
    w.gw.broker.drop();
    for (let i = 1; i <= 4; i++) sent.push(await w.notifier.notify("erin", `e${i}`));
    expect(erin.frames.length).toBe(1);
    w.gw.broker.restore();
    await waitFor("5", () => erin.frames.length === 5);
    sent.push(await w.notifier.notify("erin", "e5"));
    await waitFor("6", () => erin.frames.length === 6);
    expect(seqs(erin.frames)).toEqual(sent);
  });

  test("the stream made anew: subscriptions start over in the new epoch", async () => {
    await using w = await world();
    const fay = await w.gw.client("fay");
    await waitFor("positioned", () => w.gw.inbox.subscriptionCount === 1);
    await w.notifier.notify("fay", "old life");
    await waitFor("1", () => fay.frames.length === 1);
    const old = w.gw.epoch.current;
    w.nats.delete(NOTIFICATIONS_STREAM);
    await w.notifier.start();
    await waitFor("a new epoch", () => w.gw.epoch.current !== undefined && w.gw.epoch.current !== old);
    const seq = await w.notifier.notify("fay", "new life");
    await waitFor("2", () => fay.frames.length === 2);
    expect(fay.frames[1]).toMatchObject({ seq, body: "new life", epoch: w.gw.epoch.current });
    expect(seq).toBe(1);
  });

  test("delivery receipts: a notification written to a socket is reported delivered", async () => {
    await using w = await world();
    const receipts: string[] = [];
    w.notifier.broker.acquire("notify.delivered.*", (m) => receipts.push(m.subject));
    await w.notifier.broker.flush();
    const gil = await w.gw.client("gil");
    await waitFor("positioned", () => w.gw.inbox.subscriptionCount === 1);
    await w.notifier.notify("gil", "g0");
    await waitFor("the frame", () => gil.frames.length === 1);
    await waitFor("the receipt", () => receipts.length === 1);
    expect(receipts[0]).toBe(`notify.delivered.${gil.frames[0]!.id}`);
  });
});
