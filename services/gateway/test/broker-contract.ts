// One contract for every Broker: broker-nats.test.ts runs it on NatsBroker and a real nats-server,
// broker-memory.test.ts on MemoryBroker. Whatever channel logic is tested on the memory broker
// holds on NATS as far as this suite reaches; a behaviour the channels rely on belongs here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { DiscardPolicy, JetStreamApiError, StorageType } from "@nats-io/jetstream";
import { errors, headers, nanos, type Msg } from "@nats-io/transport-node";
import { streamAdvisorySubjects } from "@rt/protocol";
import { waitFor } from "@rt/testkit";
import type { Broker } from "../src/broker/broker.ts";
import type { ReadMsg, StreamSettings } from "../src/broker/streams.ts";

/** Connections to one server, as the contract uses them. */
export interface BrokerWorld extends AsyncDisposable {
  /** A gateway's connection: connected, no echo (as the gateway connects). */
  gw: Broker;
  /** Two more clients of the same server (other gateways, backends). */
  peer: Broker;
  third: Broker;
  /** A broker not connected yet, and what connects it (no echo). */
  later(): { broker: Broker; connect(): Promise<void> };
  /** Deletes a stream, as an operator (or a new NATS store) would. */
  deleteStream(name: string): Promise<void>;
  /** Cuts `gw`'s link to the server; `restore` gives it back. */
  cut(): void;
  restore(): void;
}

const text = new TextDecoder();
const body = (m: Msg | ReadMsg): string => text.decode(m.data);

/** Every message a broker receives on `subject`, as a list to wait on. */
function collect(b: Broker, subject: string): Msg[] {
  const got: Msg[] = [];
  b.acquire(subject, (m) => got.push(m));
  return got;
}

/** A stream as the gateway's are configured (memory storage: tests leave nothing on disk). */
function streamOf(name: string, extra: Partial<StreamSettings> = {}): StreamSettings {
  const p = name.toLowerCase();
  return {
    name,
    subjects: [`${p}.store.>`],
    storage: StorageType.Memory,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
    republish: { src: `${p}.store.>`, dest: `${p}.live.>` },
    ...extra,
  };
}

async function apiCode(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof JetStreamApiError) return err.code;
    throw err;
  }
  throw new Error("it did not fail");
}

export function brokerContract(name: string, start: () => Promise<BrokerWorld>): void {
  describe(`Broker contract: ${name}`, () => {
    let w: BrokerWorld;
    beforeAll(async () => {
      w = await start();
    });
    afterAll(async () => {
      await w?.[Symbol.asyncDispose]();
    });

    /** Waits until `gw` has everything `from` published before (a marker published after it on a held subject arrives). */
    async function settled(from: Broker, to: Broker): Promise<void> {
      const marker = `mark.${Math.random().toString(36).slice(2)}`;
      const got = collect(to, marker);
      await to.flush();
      from.publish(marker, "");
      await waitFor("the marker", () => got.length === 1);
      to.release(marker);
    }

    describe("core publish and subscribe", () => {
      test("messages arrive in publish order with their headers; `*` and `>` match", async () => {
        const exact = collect(w.gw, "core.order.a");
        const one = collect(w.gw, "core.order.*");
        const rest = collect(w.gw, "core.>");
        await w.gw.flush();
        const h = headers();
        h.set("Rt-Test", "yes");
        for (let i = 0; i < 50; i++) expect(w.peer.publish(i % 2 ? "core.order.a" : "core.order.b", String(i), i === 0 ? h : undefined)).toBe(true);
        await waitFor("all 50", () => rest.length === 50 && one.length === 50 && exact.length === 25);
        expect(one.map(body)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
        expect(exact.map(body)).toEqual(Array.from({ length: 25 }, (_, i) => String(2 * i + 1)));
        expect(one[0]!.headers?.get("Rt-Test")).toBe("yes");
        expect(one[0]!.subject).toBe("core.order.b");
        for (const s of ["core.order.a", "core.order.*", "core.>"]) w.gw.release(s);
      });

      test("interest is counted: the last release unsubscribes, not the first", async () => {
        const got: string[] = [];
        const before = w.gw.subscriptions;
        w.gw.acquire("core.held", (m) => got.push(body(m)));
        w.gw.acquire("core.held", () => got.push("second handler: never called"));
        expect(w.gw.subscriptions).toBe(before + 1);
        await w.gw.flush();
        w.peer.publish("core.held", "1");
        await waitFor("1", () => got.length === 1);
        w.gw.release("core.held");
        expect(w.gw.subscriptions).toBe(before + 1);
        w.peer.publish("core.held", "2");
        await waitFor("2", () => got.length === 2);
        w.gw.release("core.held");
        expect(w.gw.subscriptions).toBe(before);
        await w.gw.flush();
        w.peer.publish("core.held", "3");
        await settled(w.peer, w.gw);
        expect(got).toEqual(["1", "2"]);
      });

      test("no echo: the gateway's own publishes do not come back to it; a peer's do", async () => {
        const got = collect(w.gw, "core.echo");
        await w.gw.flush();
        w.gw.publish("core.echo", "mine");
        w.peer.publish("core.echo", "theirs");
        await waitFor("theirs", () => got.length >= 1);
        await settled(w.peer, w.gw);
        expect(got.map(body)).toEqual(["theirs"]);
        w.gw.release("core.echo");
      });

      test("a queue group: each message to one member", async () => {
        const a: string[] = [];
        const b: string[] = [];
        w.peer.serve("core.queue", "workers", (m) => a.push(body(m)));
        w.third.serve("core.queue", "workers", (m) => b.push(body(m)));
        expect(() => w.third.serve("core.queue", "workers", () => undefined)).toThrow();
        await w.peer.flush();
        await w.third.flush();
        for (let i = 0; i < 40; i++) w.gw.publish("core.queue", String(i));
        await waitFor("40 served", () => a.length + b.length === 40);
        expect([...a, ...b].map(Number).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
        w.peer.release("core.queue");
        w.third.release("core.queue");
      });

      test("request: the first answer; no responders and a timeout reject", async () => {
        w.peer.serve("rpc.contract", "backends", (m) => m.respond(`re:${body(m)}`));
        await w.peer.flush();
        const answer = await w.gw.request("rpc.contract", "hi", 5000);
        expect(body(answer)).toBe("re:hi");
        await expect(w.gw.request("rpc.nobody", "hi", 5000)).rejects.toBeInstanceOf(errors.NoRespondersError);
        w.peer.serve("rpc.silent", "backends", () => undefined);
        await w.peer.flush();
        await expect(w.gw.request("rpc.silent", "hi", 100)).rejects.toBeInstanceOf(errors.TimeoutError);
        w.peer.release("rpc.contract");
        w.peer.release("rpc.silent");
      });

      test("a publish with a reply subject nobody serves: a 503 status comes back to it", async () => {
        const replies = collect(w.gw, `${w.gw.inboxPrefix}.r.*`);
        await w.gw.flush();
        w.gw.publish("core.unserved", "x", undefined, `${w.gw.inboxPrefix}.r.1`);
        await waitFor("the status", () => replies.length === 1);
        expect(replies[0]!.data.byteLength).toBe(0);
        expect(replies[0]!.headers?.code).toBe(503);
        w.gw.release(`${w.gw.inboxPrefix}.r.*`);
      });

      test("gather: every answer until the handler says it has the last", async () => {
        w.peer.acquire("core.gather", (m) => m.respond("peer"));
        w.third.acquire("core.gather", (m) => m.respond("third"));
        await w.peer.flush();
        await w.third.flush();
        const got: string[] = [];
        await w.gw.gather("core.gather", "?", 5000, (m) => (got.push(body(m)), got.length === 2));
        expect(got.sort()).toEqual(["peer", "third"]);
        // With fewer answers than it waits for, it ends at its timeout.
        const few: string[] = [];
        await w.gw.gather("core.gather", "?", 200, (m) => (few.push(body(m)), false));
        expect(few.length).toBe(2);
        w.peer.release("core.gather");
        w.third.release("core.gather");
      });

      test("the server's limits are known once connected; a payload over max_payload is refused by throwing", () => {
        expect(w.gw.connected()).toBe(true);
        expect(w.gw.maxPayload()).toBeGreaterThan(0);
        expect(w.gw.inboxPrefix.length).toBeGreaterThan(0);
        expect(() => w.peer.publish("core.big", new Uint8Array(w.peer.maxPayload() + 1))).toThrow();
        expect(w.peer.publish("core.big", new Uint8Array(1024))).toBe(true);
      });

      test("before the first connect: nothing is published, no streams, no limits; holds taken then are subscribed at the connect, and onUp runs", async () => {
        const { broker, connect } = w.later();
        const got = collect(broker, "core.early");
        const ups: string[] = [];
        broker.onUp(() => ups.push(`up, ${broker.subscriptions} held`));
        expect([broker.connected(), broker.streams(), broker.maxPayload(), broker.subscriptions]).toEqual([false, undefined, 0, 1]);
        expect(broker.publish("core.early", "too soon")).toBe(false);
        await expect(broker.request("rpc.contract", "x", 1000)).rejects.toThrow();
        await connect();
        await waitFor("up", () => broker.connected() && ups.length === 1);
        expect(ups).toEqual(["up, 1 held"]);
        expect(broker.streams()).toBeDefined();
        await broker.flush();
        w.peer.publish("core.early", "now");
        await waitFor("delivered", () => got.length === 1);
        expect(body(got[0]!)).toBe("now");
        broker.release("core.early");
      });
    });

    describe("streams", () => {
      test("stored publications are republished to the live subject in order, each with its offset and its subject's previous one", async () => {
        await w.gw.streams()!.ensure(streamOf("CLIVE"));
        const live = collect(w.gw, "clive.live.*");
        await w.gw.flush();
        const h = headers();
        h.set("Rt-Origin", "o1");
        const subjects = ["x", "y", "x", "x", "y"];
        subjects.forEach((s, i) => w.gw.publish(`clive.store.${s}`, String(i), h));
        await waitFor("5 republished", () => live.length === 5);
        expect(live.map((m) => m.subject)).toEqual(subjects.map((s) => `clive.live.${s}`));
        expect(live.map(body)).toEqual(["0", "1", "2", "3", "4"]);
        const seqs = live.map((m) => Number(m.headers!.get("Nats-Sequence")));
        expect(seqs).toEqual([1, 2, 3, 4, 5]);
        expect(live.map((m) => Number(m.headers!.get("Nats-Last-Sequence")))).toEqual([0, 0, 1, 3, 2]);
        expect(live.every((m) => m.headers!.get("Nats-Stream") === "CLIVE" && m.headers!.get("Rt-Origin") === "o1")).toBe(true);
        w.gw.release("clive.live.*");
      });

      test("acks: a publish with a reply is answered with its seq; a repeat (same Nats-Msg-Id) is stored once and not republished", async () => {
        await w.gw.streams()!.ensure(streamOf("CACK"));
        const acks = collect(w.gw, `${w.gw.inboxPrefix}.ack.*`);
        const live = collect(w.gw, "cack.live.>");
        await w.gw.flush();
        const h = headers();
        h.set("Nats-Msg-Id", "origin:1");
        w.gw.publish("cack.store.a", "one", h, `${w.gw.inboxPrefix}.ack.1`);
        w.gw.publish("cack.store.a", "one again", h, `${w.gw.inboxPrefix}.ack.2`);
        w.gw.publish("cack.store.a", "two", undefined, `${w.gw.inboxPrefix}.ack.3`);
        await waitFor("3 acks", () => acks.length === 3);
        const bySubject = Object.fromEntries(acks.map((m) => [m.subject.split(".").at(-1), JSON.parse(body(m))]));
        expect(bySubject["1"]).toEqual({ stream: "CACK", seq: 1 });
        expect(bySubject["2"]).toEqual({ stream: "CACK", seq: 1, duplicate: true });
        expect(bySubject["3"]).toEqual({ stream: "CACK", seq: 2 });
        await waitFor("2 republished", () => live.length === 2);
        await settled(w.peer, w.gw);
        expect(live.map(body)).toEqual(["one", "two"]);
        w.gw.release(`${w.gw.inboxPrefix}.ack.*`);
        w.gw.release("cack.live.>");
      });

      test("reads: by seq, the last of a subject, the next of a subject from a seq (skipping the others'), and an ordered read", async () => {
        const streams = w.gw.streams()!;
        await streams.ensure(streamOf("CREAD"));
        const acks = collect(w.gw, `${w.gw.inboxPrefix}.rd.*`);
        await w.gw.flush();
        // a at 1, 3, 5, ... 29; b at 2, 4, ... 30.
        for (let i = 0; i < 30; i++) w.gw.publish(`cread.store.${i % 2 ? "b" : "a"}`, String(i), undefined, `${w.gw.inboxPrefix}.rd.${i}`);
        await waitFor("30 stored", () => acks.length === 30);
        w.gw.release(`${w.gw.inboxPrefix}.rd.*`);
        const at4 = await streams.get("CREAD", { seq: 4 });
        expect([at4?.subject, body(at4!)]).toEqual(["cread.store.b", "3"]);
        expect(await streams.get("CREAD", { seq: 99 })).toBeNull();
        expect((await streams.get("CREAD", { last_by_subj: "cread.store.a" }))?.seq).toBe(29);
        expect(await streams.get("CREAD", { last_by_subj: "cread.store.none" })).toBeNull();
        expect((await streams.get("CREAD", { seq: 4, next_by_subj: "cread.store.a" }))?.seq).toBe(5);
        expect((await streams.get("CREAD", { seq: 5, next_by_subj: "cread.store.a" }))?.seq).toBe(5);
        expect(await streams.get("CREAD", { seq: 30, next_by_subj: "cread.store.a" })).toBeNull();
        const read: number[] = [];
        for await (const m of streams.read("CREAD", "cread.store.b", 7)) read.push(m.seq);
        expect(read).toEqual([8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);
        const early: number[] = [];
        for await (const m of streams.read("CREAD", "cread.store.a", 1)) {
          early.push(m.seq);
          if (early.length === 2) break;
        }
        expect(early).toEqual([1, 3]);
        const got = await streams.get("CREAD", { seq: 1 });
        expect(got!.at).toBeGreaterThan(Date.now() - 60_000);
        expect(got!.header("Nope")).toBe("");
      });

      test("bounds: per subject (oldest of that subject go), in bytes (oldest of any go), per message (refused with 10054)", async () => {
        const streams = w.gw.streams()!;
        await streams.ensure(streamOf("CBOUND", { max_msgs_per_subject: 3, max_msg_size: 1000 }));
        const acks = collect(w.gw, `${w.gw.inboxPrefix}.b.*`);
        await w.gw.flush();
        for (let i = 0; i < 6; i++) w.gw.publish(`cbound.store.${i < 5 ? "a" : "b"}`, String(i), undefined, `${w.gw.inboxPrefix}.b.${i}`);
        w.gw.publish("cbound.store.a", "x".repeat(1001), undefined, `${w.gw.inboxPrefix}.b.big`);
        await waitFor("7 acks", () => acks.length === 7);
        const big = acks.find((m) => m.subject.endsWith(".big"))!;
        expect(JSON.parse(body(big)).error.err_code).toBe(10054);
        const a: number[] = [];
        for await (const m of streams.read("CBOUND", "cbound.store.a", 1)) a.push(m.seq);
        expect(a).toEqual([3, 4, 5]);
        expect(await streams.get("CBOUND", { seq: 1 })).toBeNull();
        expect((await streams.get("CBOUND", { seq: 6 }))?.subject).toBe("cbound.store.b");

        // max_bytes: 100-byte payloads into a 1 KiB stream keep fewer than 10, always the newest.
        await streams.ensure(streamOf("CBYTES", { max_bytes: 1024 }));
        for (let i = 0; i < 30; i++) w.gw.publish(`cbytes.store.${i % 3}`, String(i).padStart(100, "0"), undefined, `${w.gw.inboxPrefix}.b.${i}`);
        await waitFor("30 more acks", () => acks.length === 37);
        const kept: number[] = [];
        for (const s of ["0", "1", "2"]) for await (const m of streams.read("CBYTES", `cbytes.store.${s}`, 1)) kept.push(m.seq);
        kept.sort((x, y) => x - y);
        expect(kept.length).toBeGreaterThan(3);
        expect(kept.length).toBeLessThan(10);
        expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 31 - kept.length + i));

        // Ensuring it again with a lower limit applies it at once.
        await streams.ensure(streamOf("CBOUND", { max_msgs_per_subject: 1, max_msg_size: 1000 }));
        const after: number[] = [];
        for await (const m of streams.read("CBOUND", "cbound.store.a", 1)) after.push(m.seq);
        expect(after).toEqual([5]);
        w.gw.release(`${w.gw.inboxPrefix}.b.*`);
      });

      test("max_age: publications older than it go", async () => {
        const streams = w.gw.streams()!;
        await streams.ensure(streamOf("CAGE", { max_age: nanos(300), duplicate_window: nanos(300) }));
        const acks = collect(w.gw, `${w.gw.inboxPrefix}.age.*`);
        await w.gw.flush();
        w.gw.publish("cage.store.a", "old", undefined, `${w.gw.inboxPrefix}.age.1`);
        await waitFor("stored", () => acks.length === 1);
        expect((await streams.get("CAGE", { last_by_subj: "cage.store.a" }))?.seq).toBe(1);
        await waitFor("expired", async () => (await streams.get("CAGE", { last_by_subj: "cage.store.a" })) === null, 10_000);
        w.gw.release(`${w.gw.inboxPrefix}.age.*`);
      });

      test("a stream's life: 10059 when missing, the same `created` when ensured again, a new one (epoch) and advisories when made anew", async () => {
        const streams = w.gw.streams()!;
        expect(await apiCode(streams.info("CNONE"))).toBe(10059);
        expect(await apiCode(streams.get("CNONE", { seq: 1 }))).toBe(10059);
        const [created, deleted] = streamAdvisorySubjects("CLIFE");
        const advisories: string[] = [];
        w.gw.acquire(created!, () => advisories.push("created"));
        w.gw.acquire(deleted!, () => advisories.push("deleted"));
        await w.gw.flush();
        await streams.ensure(streamOf("CLIFE", { max_msgs_per_subject: 5 }));
        const first = (await streams.info("CLIFE")).created;
        // Ensuring an existing stream keeps its life.
        await streams.ensure(streamOf("CLIFE", { max_msgs_per_subject: 6 }));
        expect((await streams.info("CLIFE")).created).toBe(first);
        expect(Number.isNaN(Date.parse(first))).toBe(false);
        const acks = collect(w.gw, `${w.gw.inboxPrefix}.life.*`);
        await w.gw.flush();
        w.gw.publish("clife.store.a", "1", undefined, `${w.gw.inboxPrefix}.life.1`);
        await waitFor("stored", () => acks.length === 1);
        await w.deleteStream("CLIFE");
        expect(await apiCode(streams.info("CLIFE"))).toBe(10059);
        await streams.ensure(streamOf("CLIFE", { max_msgs_per_subject: 5 }));
        const second = (await streams.info("CLIFE")).created;
        expect(second).not.toBe(first);
        expect(await streams.get("CLIFE", { last_by_subj: "clife.store.a" })).toBeNull();
        await waitFor("advisories", () => advisories.length === 3);
        expect(advisories).toEqual(["created", "deleted", "created"]);
        // A new life numbers from 1 again.
        w.gw.publish("clife.store.a", "2", undefined, `${w.gw.inboxPrefix}.life.2`);
        await waitFor("stored again", () => acks.length === 2);
        expect(JSON.parse(body(acks[1]!)).seq).toBe(1);
        for (const s of [created!, deleted!, `${w.gw.inboxPrefix}.life.*`]) w.gw.release(s);
      });
    });

    describe("the link", () => {
      test("a cut: listeners told, linkDown rejects, requests in flight fail, nothing published; restored: holds work again", async () => {
        const ups: number[] = [];
        const downs: number[] = [];
        w.gw.onUp(() => ups.push(1));
        w.gw.onDown(() => downs.push(1));
        const got = collect(w.gw, "link.held");
        w.peer.serve("rpc.slow", "backends", () => undefined);
        await w.peer.flush();
        await w.gw.flush();
        const down = w.gw.linkDown();
        const inFlight = w.gw.request("rpc.slow", "x", 30_000);
        inFlight.catch(() => undefined);
        w.cut();
        await waitFor("the cut seen", () => !w.gw.connected() && downs.length === 1, 10_000);
        await expect(down).rejects.toThrow();
        await expect(inFlight).rejects.toThrow();
        expect(w.gw.publish("link.held", "while down")).toBe(false);
        await expect(w.gw.request("rpc.slow", "x", 1000)).rejects.toThrow();
        w.restore();
        await waitFor("back", () => w.gw.connected() && ups.length === 1, 15_000);
        // Held subjects are subscribed again.
        await waitFor("delivered after the reconnect", async () => {
          w.peer.publish("link.held", "after");
          await w.peer.flush();
          return got.length > 0;
        });
        expect(got.map(body).every((b) => b === "after")).toBe(true);
        w.gw.release("link.held");
        w.peer.release("rpc.slow");
      });
    });
  });
}
