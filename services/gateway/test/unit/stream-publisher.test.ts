import { describe, expect, test } from "bun:test";
import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import { STREAM_LEADER_ELECTED_WILDCARD } from "@rt/protocol";
import type { Broker } from "../../src/broker/broker.ts";
import { Outbox } from "../../src/broker/outbox.ts";
import { StreamPublisher } from "../../src/broker/stream-publisher.ts";

/** Just what StreamPublisher uses of a Broker: its publishes recorded as [Rt-Seq, with a reply]. */
function fakeBroker() {
  const handlers = new Map<string, (msg: Msg) => void>();
  const sent: Array<[number, boolean]> = [];
  const broker = {
    inboxPrefix: "_INBOX_gateway.t",
    connected: () => true,
    acquire: (subject: string, fn: (msg: Msg) => void) => void handlers.set(subject, fn),
    onUp: () => undefined,
    publish: (_subject: string, _payload: string, headers: MsgHdrs, reply?: string) => {
      const text = new TextDecoder().decode((headers as unknown as { encode(): Uint8Array }).encode());
      sent.push([Number(/Rt-Seq: (\d+)/.exec(text)![1]), reply !== undefined]);
      return true;
    },
  } as unknown as Broker;
  const deliver = (subject: string, body: string) => handlers.get(subject.startsWith("_INBOX") ? "_INBOX_gateway.t.ack.*" : STREAM_LEADER_ELECTED_WILDCARD)!({ subject, data: new TextEncoder().encode(body) } as Msg);
  return { broker, sent, deliver };
}

const turn = () => new Promise((r) => setImmediate(r));

describe("StreamPublisher", () => {
  test("a new stream leader (JetStream's advisory) sends what waits at once, not after the backoff: the oldest alone, then the rest in order", async () => {
    const { broker, sent, deliver } = fakeBroker();
    const outbox = new Outbox({ maxBytes: 1 << 20, maxAgeMs: 60_000 }, () => undefined);
    const p = new StreamPublisher(broker, outbox, { onRepeat: () => undefined, onError: () => undefined, onStored: () => undefined });
    for (let i = 0; i < 3; i++) p.publish("chat.room.r", `m${i}`);
    await turn();
    expect(sent).toEqual([[1, true]]); // the first send is a probe
    deliver("_INBOX_gateway.t.ack.1", '{"stream":"ROOMS","seq":1}');
    await turn();
    expect(sent.slice(1)).toEqual([[2, false], [3, false]]);
    // The stream lost its leader: a refusal stops sending (a probe would go after the backoff)...
    sent.length = 0;
    deliver("_INBOX_gateway.t.ack.2", "");
    p.publish("chat.room.r", "m3");
    await turn();
    expect(sent).toEqual([]);
    // ...but a new leader is announced: the oldest goes at once, alone; stored, the rest follows in order.
    deliver(STREAM_LEADER_ELECTED_WILDCARD.replace("*", "ROOMS"), "{}");
    await turn();
    expect(sent).toEqual([[2, true]]);
    deliver("_INBOX_gateway.t.ack.2", '{"stream":"ROOMS","seq":2}');
    await turn();
    expect(sent).toEqual([[2, true], [3, true], [4, false]]);
    p.stop();
  });
});
