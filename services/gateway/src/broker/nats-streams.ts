import { AckPolicy, DeliverPolicy, type JetStreamManager, type JsMsg, type StoredMsg } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { ensureStream } from "@rt/runtime";
import type { BrokerStreams, MsgQuery, ReadMsg, StreamSettings, StreamState } from "./streams.ts";

/** Messages read with single gets before a consumer is worth its round trip (most reads are short: a reconnect that missed one or two). */
export const GETS_FIRST = 4;
/** What one consumer fetch may hold at once: memory per replay stays bounded (a count: nats-server 2.9 let a fetch by bytes time out on missed heartbeats here). */
const FETCH = { max_messages: 128 };
/** A consumer its gateway stopped using (it died mid-read) is removed by the server after this long. */
const INACTIVE_MS = 30_000;
/** How long one fetch waits for messages the consumer said are pending. */
const FETCH_EXPIRES_MS = 5000;
/**
 * How long a read waits for its consumer before going on with single gets. Consumers are created
 * through the JetStream meta leader; while the node that held it is lost (an election of 4-9 s),
 * gets still work (the stream's own leader answers them), so a read never waits on the meta layer.
 */
const CONSUMER_WAIT_MS = 1000;

const fromGet = (m: StoredMsg): ReadMsg => ({ seq: m.seq, subject: m.subject, data: m.data, at: m.time.getTime(), header: (n) => m.header?.get(n) ?? "" });
const fromConsumer = (m: JsMsg): ReadMsg => ({
  seq: m.seq,
  subject: m.subject,
  data: m.data,
  at: Math.floor(m.info.timestampNanos / 1e6),
  header: (n) => m.headers?.get(n) ?? "",
});

/** BrokerStreams on a NATS connection's JetStream API; a get in flight when the link drops (`linkDown`) fails at once. */
export class NatsStreams implements BrokerStreams {
  constructor(private readonly jsm: JetStreamManager, private readonly linkDown: () => Promise<never>) {}

  async info(stream: string): Promise<StreamState> {
    return { created: (await this.jsm.streams.info(stream)).created };
  }

  async ensure(settings: StreamSettings): Promise<void> {
    await ensureStream(this.jsm, settings);
  }

  async get(stream: string, query: MsgQuery): Promise<ReadMsg | null> {
    // {seq, next_by_subj} is answered since 2.9; the client's type lists only the direct-get form.
    const m = await Promise.race([this.jsm.streams.getMessage(stream, query as { seq: number }), this.linkDown()]);
    return m ? fromGet(m) : null;
  }

  /**
   * The first GETS_FIRST come from single gets (`next_by_subj`, answered since nats-server 2.9);
   * the rest through an ephemeral pull consumer (or, when none is made within CONSUMER_WAIT_MS, single gets on) (ack none, memory storage, one replica, one
   * `filter_subject`: no 2.10 feature) fetched 128 at a time: 1,000 messages in a few
   * milliseconds instead of one round trip each. Stopping early (`break`) deletes the consumer; one
   * left by a gateway that died goes after INACTIVE_MS. A fetch that stops short of what the
   * consumer said was pending (a link drop) throws: the caller reads again from where it is.
   *
   * Fetches are bound (nats.js `bind`): after a reconnect the client pulls again instead of asking
   * for the consumer's info, which the gateway's NATS user may not do (denied, the client asked
   * again every few seconds and the fetch never ended). What was in flight when the link dropped is
   * gone for a consumer that acks nothing, so a delivery that does not follow the one before (its
   * consumer sequence) throws too: never a silent gap.
   */
  async *read(stream: string, subject: string, fromSeq: number): AsyncGenerator<ReadMsg> {
    let seq = fromSeq;
    for (let i = 0; i < GETS_FIRST; i++) {
      const m = await this.get(stream, { seq, next_by_subj: subject });
      if (!m) return;
      yield m;
      seq = m.seq + 1;
    }
    const adding = this.jsm.consumers.add(stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: seq,
      filter_subject: subject,
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(INACTIVE_MS),
    });
    const slow = Promise.withResolvers<undefined>();
    const timer = setTimeout(() => slow.resolve(undefined), CONSUMER_WAIT_MS);
    const info = await Promise.race([adding, slow.promise]).finally(() => clearTimeout(timer));
    if (info === undefined) {
      // The meta layer is slow or electing: one get at a time (a consumer made late is removed unused).
      adding.then((late) => this.jsm.consumers.delete(stream, late.name), () => undefined).catch(() => undefined);
      for (;;) {
        const m = await this.get(stream, { seq, next_by_subj: subject });
        if (!m) return;
        yield m;
        seq = m.seq + 1;
      }
    }
    try {
      let pending = info.num_pending;
      let delivered = 0;
      const consumer = this.jsm.jetstream().consumers.getConsumerFromInfo(info);
      while (pending > 0) {
        let got = 0;
        const batch = await consumer.fetch({ ...FETCH, expires: FETCH_EXPIRES_MS, bind: true });
        for await (const m of batch) {
          if (m.info.deliverySequence !== ++delivered) throw new Error(`reading ${subject} skipped deliveries ${delivered} to ${m.info.deliverySequence - 1} (a link drop)`);
          got++;
          pending = m.info.pending;
          yield fromConsumer(m);
          if (pending === 0) break;
        }
        if (got === 0) throw new Error(`reading ${subject} stopped with ${pending} pending`);
      }
    } finally {
      this.jsm.consumers.delete(stream, info.name).catch(() => undefined);
    }
  }
}
