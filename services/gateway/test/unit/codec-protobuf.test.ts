import { expect, test } from "bun:test";
import protobuf from "protobufjs";
import { centrifugo } from "@rt/protocol";
import { ProtobufCodec, protobufPushes } from "../../src/protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes } from "../../src/protocols/centrifugo/push.ts";

const codec = new ProtobufCodec();
const root = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root;
const Reply = root.lookupType("rt.centrifugo.Reply");
const Command = root.lookupType("rt.centrifugo.Command");
const bytes = (...b: number[]) => Buffer.from(b);
const text = (s: string) => [...new TextEncoder().encode(s)];

/** Every Reply in a frame, as plain objects (bytes kept). */
function replies(frame: Uint8Array): Array<Record<string, unknown>> {
  const r = protobuf.Reader.create(frame);
  const out: Array<Record<string, unknown>> = [];
  while (r.pos < r.len) out.push(Reply.toObject(Reply.decodeDelimited(r), { longs: Number }) as Record<string, unknown>);
  return out;
}

test("field numbers on the wire, by hand: Command{id 1, connect{token 't'}} and Command{id 2, publish{channel, data}}", () => {
  // id = field 1 varint; connect = field 4 (tag 0x22); token = field 1 of ConnectRequest (tag 0x0a).
  const connect = [0x08, 0x01, 0x22, 0x03, 0x0a, 0x01, ...text("t")];
  // publish = field 7 (tag 0x3a); channel = 1 (0x0a), data = 2 (0x12) holding the JSON bytes {"a":1}.
  const pubBody = [0x0a, 0x03, ...text("c:x"), 0x12, 0x07, ...text('{"a":1}')];
  const publish = [0x08, 0x02, 0x3a, pubBody.length, ...pubBody];
  const frame = bytes(connect.length, ...connect, publish.length, ...publish);
  expect(codec.decode(frame)).toEqual([{ id: 1, connect: { token: "t" } }, { id: 2, publish: { channel: "c:x", data: { a: 1 } } }]);
});

test("an empty Command is a pong; subscribe flags, offsets (uint64) and subs maps come through as numbers and objects", () => {
  const w = protobuf.Writer.create();
  Command.encodeDelimited({}, w);
  Command.encodeDelimited({ id: 3, subscribe: { channel: "chat:a", recover: true, offset: 2 ** 40, epoch: "e", join_leave: true, flag: 1 } }, w);
  Command.encodeDelimited({ id: 4, connect: { token: "t", subs: { "#u": { recover: true, offset: 5, epoch: "x" } } } }, w);
  Command.encodeDelimited({ id: 5, history: { channel: "chat:a", limit: 10, since: { offset: 7, epoch: "e" }, reverse: true } }, w);
  expect(codec.decode(Buffer.from(w.finish()))).toEqual([
    {},
    { id: 3, subscribe: { channel: "chat:a", recover: true, offset: 2 ** 40, epoch: "e", join_leave: true, flag: 1 } },
    { id: 4, connect: { token: "t", subs: { "#u": { recover: true, offset: 5, epoch: "x" } } } },
    { id: 5, history: { channel: "chat:a", limit: 10, since: { offset: 7, epoch: "e" }, reverse: true } },
  ]);
});

test("data that is not UTF-8 JSON makes the method's body null (refused as a bad request); empty data is absent", () => {
  const w = protobuf.Writer.create();
  Command.encodeDelimited({ id: 1, publish: { channel: "chat:a", data: new Uint8Array([0xff]) } }, w);
  Command.encodeDelimited({ id: 2, publish: { channel: "chat:a", data: new TextEncoder().encode("not json") } }, w);
  Command.encodeDelimited({ id: 3, rpc: { method: "m", data: new Uint8Array() } }, w);
  expect(codec.decode(Buffer.from(w.finish()))).toEqual([{ id: 1, publish: null }, { id: 2, publish: null }, { id: 3, rpc: { method: "m" } }]);
});

test("unreadable: a text frame, truncated or garbage bytes, too many commands", () => {
  expect(codec.decode("{}")).toBeUndefined();
  expect(codec.decode(bytes(0x05, 0x08))).toBeUndefined();
  expect(codec.decode(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff))).toBeUndefined();
  expect(codec.decode(Buffer.alloc(0))).toBeUndefined();
  expect(codec.decode(Buffer.alloc(1001))).toBeUndefined(); // 1001 empty commands
});

test("replies: results with publications carry their data as JSON bytes; errors and pings as they are", () => {
  const frame = codec.encode([
    { id: 1, connect: { client: "c", version: "v", ping: 25, pong: true, subs: { "#u": { recoverable: true, epoch: "e", offset: 3, publications: [{ data: { n: 1 }, offset: 3 }] } } } },
    { id: 2, error: { code: 107, message: "bad request" } },
    { id: 3, history: { epoch: "e", offset: 9, publications: [{ data: "s", info: { user: "u", client: "c" }, offset: 9 }] } },
    { id: 4, presence: { presence: { c: { user: "u", client: "c" } } } },
    { id: 5, rpc: { data: [1, 2] } },
    {},
  ]);
  const r = replies(frame);
  const json = (b: unknown) => JSON.parse(new TextDecoder().decode(b as Uint8Array)) as unknown;
  expect(r[0]).toMatchObject({ id: 1, connect: { client: "c", version: "v", ping: 25, pong: true } });
  const sub = (r[0]!.connect as { subs: Record<string, { publications: Array<{ data: unknown; offset: number }> }> }).subs["#u"]!;
  expect(json(sub.publications[0]!.data)).toEqual({ n: 1 });
  expect(r[1]).toEqual({ id: 2, error: { code: 107, message: "bad request" } });
  const h = (r[2]!.history as { publications: Array<{ data: unknown; info: unknown; offset: number }> }).publications[0]!;
  expect([json(h.data), h.info, h.offset]).toEqual(["s", { user: "u", client: "c" }, 9]);
  expect(r[3]).toEqual({ id: 4, presence: { presence: { c: { user: "u", client: "c" } } } });
  expect(json((r[4]!.rpc as { data: unknown }).data)).toEqual([1, 2]);
  expect(r[5]).toEqual({});
});

test("pushes: publication, join, leave; the pre-serialized publication equals the general one, in both encodings", () => {
  const [pub] = replies(protobufPushes.frame("chat:a", { pub: { data: { x: 1 }, offset: 4, info: { user: "u", client: "c" } } }) as Uint8Array);
  expect(pub!.push).toMatchObject({ channel: "chat:a", pub: { offset: 4, info: { user: "u", client: "c" } } });
  const [join] = replies(protobufPushes.frame("chat:a", { join: { info: { user: "u", client: "c" } } }) as Uint8Array);
  expect(join).toEqual({ push: { channel: "chat:a", join: { info: { user: "u", client: "c" } } } });
  expect(protobufPushes.publication("#u", '{"a":1}', 7)).toEqual(protobufPushes.frame("#u", { pub: { data: { a: 1 }, offset: 7 } }));
  expect(jsonPushes.publication("#u", '{"a":1}', 7)).toEqual(jsonPushes.frame("#u", { pub: { data: { a: 1 }, offset: 7 } }));
  expect(jsonPushes.publication("system:monitor", '{"a":1}')).toEqual(jsonPushes.frame("system:monitor", { pub: { data: { a: 1 } } }));
  expect(new Set([protobufPushes.topic("c"), protobufPushes.joinLeaveTopic("c"), jsonPushes.topic("c"), jsonPushes.joinLeaveTopic("c")]).size).toBe(4);
});

test("delta subscribers: data that is bytes goes as it is; Publication.delta is field 8, SubscribeResult.delta field 13 (the SDK's numbers)", () => {
  const delta = new TextEncoder().encode("Qp\n3@0,1:x2B;");
  const push = protobufPushes.frame("c:d", { pub: { data: delta, offset: 5, delta: true } }) as Uint8Array;
  // Reply{push(4){channel(2) "c:d", pub(4){data(4), offset(6) 5, delta(8) true}}}, length-delimited.
  const pubBody = [0x22, delta.length, ...delta, 0x30, 0x05, 0x40, 0x01];
  const pushBody = [0x12, 0x03, ...text("c:d"), 0x22, pubBody.length, ...pubBody];
  expect([...push]).toEqual([pushBody.length + 2, 0x22, pushBody.length, ...pushBody]);
  const [reply] = replies(codec.encode([{ id: 9, subscribe: { recoverable: true, delta: true, publications: [{ data: delta, offset: 5, delta: true }, { data: { a: 1 }, offset: 6 }] } }]));
  const result = reply!.subscribe as { delta: boolean; publications: Array<{ data: Uint8Array; delta?: boolean }> };
  expect(result.delta).toBe(true);
  expect([...result.publications[0]!.data]).toEqual([...delta]);
  expect(result.publications[0]!.delta).toBe(true);
  expect(new TextDecoder().decode(result.publications[1]!.data)).toBe('{"a":1}');
  // SubscribeResult field 13, varint true: tag 0x68.
  const sub = codec.encode([{ id: 1, subscribe: { delta: true } }]);
  expect([...sub]).toEqual([6, 0x08, 0x01, 0x32, 0x02, 0x68, 0x01]);
});

test("channel info (a subscription token's info) travels as the UTF-8 bytes of its JSON: in publications, joins and leaves, presence", () => {
  const info = { user: "u", client: "c", chan_info: { name: "Ann" } };
  const pub = replies(protobufPushes.frame("board:x", { pub: { data: { a: 1 }, info } }) as Uint8Array)[0]!;
  expect(((pub.push as { pub: { info: { chan_info: Uint8Array } } }).pub.info.chan_info)).toEqual(bytes(...text('{"name":"Ann"}')));
  const join = replies(protobufPushes.frame("board:x", { join: { info } }) as Uint8Array)[0]!;
  expect(((join.push as { join: { info: { chan_info: Uint8Array; user: string } } }).join.info)).toMatchObject({ user: "u", chan_info: bytes(...text('{"name":"Ann"}')) });
  const presence = replies(codec.encode([{ id: 9, presence: { presence: { c: info, d: { user: "v", client: "d" } } } }]))[0]!;
  const clients = (presence.presence as { presence: Record<string, { chan_info?: Uint8Array }> }).presence;
  expect(clients.c!.chan_info).toEqual(bytes(...text('{"name":"Ann"}')));
  expect(clients.d!.chan_info === undefined || clients.d!.chan_info.length === 0).toBe(true);
});

test("connection info (the connect proxy's info) travels as the UTF-8 bytes of its JSON next to the channel info; a subscribe proxy's data as bytes too", () => {
  const info = { user: "u", client: "c", conn_info: { plan: "pro" }, chan_info: { name: "Ann" } };
  const pub = replies(protobufPushes.frame("board:x", { pub: { data: { a: 1 }, info } }) as Uint8Array)[0]!;
  expect((pub.push as { pub: { info: Record<string, unknown> } }).pub.info).toMatchObject({ conn_info: bytes(...text('{"plan":"pro"}')), chan_info: bytes(...text('{"name":"Ann"}')) });
  const sub = replies(codec.encode([{ id: 1, subscribe: { data: { granted: true } } }]))[0]!;
  expect((sub.subscribe as { data: Uint8Array }).data).toEqual(bytes(...text('{"granted":true}')));
  const conn = replies(codec.encode([{ id: 2, connect: { client: "c", subs: { "board:x": { data: [1] } } } }]))[0]!;
  expect((conn.connect as { subs: Record<string, { data: Uint8Array }> }).subs["board:x"]!.data).toEqual(bytes(...text("[1]")));
});
