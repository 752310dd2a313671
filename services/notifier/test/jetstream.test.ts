import { expect, test } from "bun:test";
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
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
