// The wire formats of the HTTP transports, byte for byte; the SDK reads them in sdk-transports.test.ts.
import { describe, expect, test } from "bun:test";
import protobuf from "protobufjs";
import { centrifugo } from "@rt/protocol";
import { jsonPushes } from "../../src/protocols/centrifugo/push.ts";
import { protobufPushes } from "../../src/protocols/centrifugo/codec-protobuf.ts";
import { disconnectBytes, formatOf, toUni, wireBytes } from "../../src/transports/framing.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const Reply = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root.lookupType("rt.centrifugo.Reply");

describe("toUni: the unidirectional form of a frame", () => {
  test("a push loses its wrapper, exactly as the channels write it", () => {
    const frame = jsonPushes.frame("chat:lobby", { pub: { data: { text: "hi\n}" }, offset: 3 } }) as string;
    expect(toUni(frame)).toBe(JSON.stringify({ channel: "chat:lobby", pub: { data: { text: "hi\n}" }, offset: 3 } }));
    const raw = jsonPushes.publication("#alice", JSON.stringify({ id: "n1", body: "b" }), 9) as string;
    expect(JSON.parse(toUni(raw))).toEqual({ channel: "#alice", pub: { data: { id: "n1", body: "b" }, offset: 9 } });
  });

  test("in a batch every push line is unwrapped; other lines (connect, ping, replies) stay", () => {
    const frame = [jsonPushes.frame("a", { join: { info: { user: "u", client: "c" } } }), '{"connect":{"client":"x"}}', "{}", jsonPushes.frame("b", { leave: { info: { user: "u", client: "c" } } })].join("\n");
    expect(toUni(frame).split("\n").map((l) => JSON.parse(l))).toEqual([
      { channel: "a", join: { info: { user: "u", client: "c" } } },
      { connect: { client: "x" } },
      {},
      { channel: "b", leave: { info: { user: "u", client: "c" } } },
    ]);
  });

  test("data that merely contains the word push is left alone", () => {
    const frame = JSON.stringify({ id: 2, rpc: { data: { push: 1, s: '{"push":' } } });
    expect(toUni(frame)).toBe(frame);
  });
});

describe("wireBytes", () => {
  const two = `${jsonPushes.frame("a", { pub: { data: 1 } })}\n${jsonPushes.frame("a", { pub: { data: 2 } })}`;

  test("ndjson: the frame and a newline; every line one reply", () => {
    expect(text(wireBytes("ndjson", two))).toBe(`${two}\n`);
  });

  test("sse: one event per reply, so an EventSource user can JSON.parse each event's data", () => {
    expect(text(wireBytes("sse", two))).toBe(two.split("\n").map((l) => `data: ${l}\n\n`).join(""));
    expect(text(wireBytes("uni-sse", "{}"))).toBe("data: {}\n\n");
  });

  test("sse: a raw CR (whitespace between JSON tokens in relayed text) cannot end an event line", () => {
    const relayed = jsonPushes.publication("system:monitor", '{"host":"h",\r"cpu_load":1}') as string;
    const events = text(wireBytes("sse", relayed));
    expect(events).not.toContain("\r");
    expect(JSON.parse(events.slice("data: ".length, -2))).toEqual({ push: { channel: "system:monitor", pub: { data: { host: "h", cpu_load: 1 } } } });
  });

  test("protobuf: the length-delimited replies as they are (a WebSocket frame's bytes)", () => {
    const frame = protobufPushes.join([protobufPushes.frame("a", { pub: { data: 1 } }), protobufPushes.frame("a", { pub: { data: 2 } })]);
    expect(wireBytes("protobuf", frame)).toBe(frame as Uint8Array);
  });

  test("a frame of the wrong kind for the format is a programming error", () => {
    expect(() => wireBytes("protobuf", "{}")).toThrow(TypeError);
    expect(() => wireBytes("ndjson", new Uint8Array([0]))).toThrow(TypeError);
  });

  test("SSE and the unidirectional transports have no Protobuf", () => {
    expect(formatOf(false, true, false)).toBe("protobuf");
    expect(() => formatOf(true, true, false)).toThrow(RangeError);
    expect(() => formatOf(false, true, true)).toThrow(RangeError);
    expect([formatOf(false, false, false), formatOf(true, false, false), formatOf(false, false, true), formatOf(true, false, true)]).toEqual(["ndjson", "sse", "uni-ndjson", "uni-sse"]);
  });
});

describe("disconnectBytes", () => {
  const d = { code: 3008, reason: "slow" };

  test("JSON: a disconnect push; unidirectional: the push itself", () => {
    expect(JSON.parse(text(disconnectBytes("ndjson", d)))).toEqual({ push: { disconnect: d } });
    expect(text(disconnectBytes("sse", d))).toBe(`data: ${JSON.stringify({ push: { disconnect: d } })}\n\n`);
    expect(JSON.parse(text(disconnectBytes("uni-ndjson", d)))).toEqual({ disconnect: d });
    expect(text(disconnectBytes("uni-sse", d))).toBe(`data: ${JSON.stringify({ disconnect: d })}\n\n`);
  });

  test("Protobuf: one length-delimited Reply{push{disconnect}}", () => {
    const r = Reply.toObject(Reply.decodeDelimited(disconnectBytes("protobuf", d)));
    expect(r).toEqual({ push: { disconnect: d } });
  });
});
