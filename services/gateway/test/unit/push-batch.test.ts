import { describe, expect, test } from "bun:test";
import { PushBatcher } from "../../src/channels/push-batch.ts";
import { protobufPushes } from "../../src/protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes } from "../../src/protocols/centrifugo/push.ts";

const nextTurn = () => new Promise((r) => setImmediate(r));

describe("PushBatcher", () => {
  test("a turn's pushes of one topic go out as one frame, in order, one per line; topics apart", async () => {
    const out: Array<[string, string | Uint8Array]> = [];
    const b = new PushBatcher((topic, frame) => out.push([topic, frame]));
    b.add("c:chat:a", jsonPushes, '{"n":1}');
    b.add("c:chat:b", jsonPushes, '{"n":9}');
    b.add("c:chat:a", jsonPushes, '{"n":2}');
    expect(out).toEqual([]);
    await nextTurn();
    expect(out).toEqual([["c:chat:a", '{"n":1}\n{"n":2}'], ["c:chat:b", '{"n":9}']]);
    expect(b.size).toBe(0);
  });

  test("flush(topic) writes that topic at once (before a socket subscribes); the rest waits for the turn's end", async () => {
    const out: string[] = [];
    const b = new PushBatcher((topic) => out.push(topic));
    b.add("t1", jsonPushes, "a");
    b.add("t2", jsonPushes, "b");
    b.flush("t1");
    b.flush("nothing-held");
    expect(out).toEqual(["t1"]);
    await nextTurn();
    expect(out).toEqual(["t1", "t2"]);
  });

  test("a full batch (pushes or bytes) is written at once", () => {
    const out: string[] = [];
    const b = new PushBatcher((_t, f) => out.push(String(f)), { maxPushes: 3, maxBytes: 10 });
    for (const f of ["1", "2", "3", "4"]) b.add("t", jsonPushes, f);
    expect(out).toEqual(["1\n2\n3"]);
    b.add("u", jsonPushes, "0123456789");
    expect(out).toEqual(["1\n2\n3", "0123456789"]);
  });

  test("Protobuf pushes join as length-delimited replies one after another", () => {
    const a = protobufPushes.frame("chat:x", { pub: { data: { n: 1 }, offset: 1 } }) as Uint8Array;
    const c = protobufPushes.frame("chat:x", { pub: { data: { n: 2 }, offset: 2 } }) as Uint8Array;
    const joined = protobufPushes.join([a, c]) as Uint8Array;
    expect(joined.byteLength).toBe(a.byteLength + c.byteLength);
    expect([...joined.subarray(0, a.byteLength)]).toEqual([...a]);
    expect([...joined.subarray(a.byteLength)]).toEqual([...c]);
  });
});
