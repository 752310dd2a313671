import { expect, test } from "bun:test";
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, nanos } from "@nats-io/transport-node";
import { TestNats, NATS_ADMIN } from "@rt/testkit";

// The server behaviour the publish flow relies on, pinned on the nats-server in use (2.9.10 here).
test("Nats-Expected-Last-Subject-Sequence: 0 means 'no message yet', and dedup wins over it", async () => {
  await using nats = await TestNats.start();
  const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "PIN", subjects: ["pin.*"], duplicate_window: nanos(60_000) });
  const js = jetstream(nc);
  const wrongLast = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(JetStreamApiError);
    expect((err as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamWrongLastSequence);
  };

  // nats.js sends the header for 0 (it tests `typeof === "number"`), and the server enforces it.
  expect((await js.publish("pin.a", "1", { expect: { lastSubjectSequence: 0 } })).seq).toBe(1);
  await wrongLast(js.publish("pin.a", "2", { expect: { lastSubjectSequence: 0 } }));
  await wrongLast(js.publish("pin.b", "1", { expect: { lastSubjectSequence: 1 } })); // per subject, not per stream
  expect((await js.publish("pin.b", "1", { expect: { lastSubjectSequence: 0 } })).seq).toBe(2);

  // A repeated msgID is answered as a duplicate with the FIRST seq even when the expected
  // last-subject-seq no longer holds: the dedup check runs first.
  const first = await js.publish("pin.a", "k", { msgID: "m1", expect: { lastSubjectSequence: 1 } });
  expect(first).toMatchObject({ seq: 3, duplicate: false });
  await js.publish("pin.a", "later", { expect: { lastSubjectSequence: 3 } });
  const repeat = await js.publish("pin.a", "k2", { msgID: "m1", expect: { lastSubjectSequence: 1 } });
  expect(repeat).toMatchObject({ seq: 3, duplicate: true });
  expect((await jsm.streams.getMessage("PIN", { seq: repeat.seq }))?.string()).toBe("k");

  // last_by_subj finds a subject's last seq; a subject without messages reads as null.
  expect((await jsm.streams.getMessage("PIN", { last_by_subj: "pin.a" }))?.seq).toBe(4);
  expect(await jsm.streams.getMessage("PIN", { last_by_subj: "pin.none" })).toBeNull();
  await nc.close();
});

test("stream bounds: an update adds max_bytes and max_msg_size (trimming at once); discard old at max_bytes accepts and drops the oldest; over max_msg_size (headers count) is refused with 10054; max_consumers cannot be updated", async () => {
  await using nats = await TestNats.start();
  const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.streams.add({ name: "BOUND", subjects: ["bound.*"], discard: DiscardPolicy.Old });
  for (let i = 0; i < 20; i++) await js.publish(`bound.${i % 3}`, new Uint8Array(1000));
  const updated = await jsm.streams.update("BOUND", { max_bytes: 8192, max_msg_size: 2000 });
  expect({ max_bytes: updated.config.max_bytes, max_msg_size: updated.config.max_msg_size, within: updated.state.bytes <= 8192, last: updated.state.last_seq }).toEqual({ max_bytes: 8192, max_msg_size: 2000, within: true, last: 20 });
  const first = updated.state.first_seq;
  expect(first).toBeGreaterThan(1);

  // At the bound: accepted, and the oldest go.
  expect((await js.publish("bound.x", new Uint8Array(2000))).seq).toBe(21);
  const after = (await jsm.streams.info("BOUND")).state;
  expect(after.bytes).toBeLessThanOrEqual(8192);
  expect(after.first_seq).toBeGreaterThan(first);

  // max_msg_size counts headers and payload; the refusal is an error the publisher sees.
  const h = headers();
  h.set("X-Pad", "p".repeat(20));
  const code = (p: Promise<unknown>) => p.then(() => "stored", (e: unknown) => (e as JetStreamApiError).code);
  expect(await code(js.publish("bound.x", new Uint8Array(1990), { headers: h }))).toBe(10054);
  expect(await code(js.publish("bound.x", new Uint8Array(2001)))).toBe(10054);
  expect(await code(js.publish("bound.x", new Uint8Array(1990)))).toBe("stored");

  // Consumers of a stream made without max_consumers stay unbounded: 2.9 refuses to change it.
  const err = await jsm.streams.update("BOUND", { max_consumers: 10 } as Parameters<typeof jsm.streams.update>[1]).then(() => undefined, (e: unknown) => e as JetStreamApiError);
  expect(err?.message).toContain("can not change MaxConsumers");
  await nc.close();
});
