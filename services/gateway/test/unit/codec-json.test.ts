import { expect, test } from "bun:test";
import { JsonCodec } from "../../src/protocols/centrifugo/codec-json.ts";

const codec = new JsonCodec();

test("a frame is newline-separated JSON objects, blank lines and surrounding space ignored", () => {
  expect(codec.decode('{"id":1,"connect":{}}\n{"id":2,"subscribe":{"channel":"chat:a"}}\n')).toEqual([{ id: 1, connect: {} }, { id: 2, subscribe: { channel: "chat:a" } }]);
  expect(codec.decode("  {}  ")).toEqual([{}]);
  expect(codec.decode('{"a":1}\n\n{"b":2}')).toEqual([{ a: 1 }, { b: 2 }]);
});

test("unreadable: not JSON, not an object, binary, empty, too many commands, hostile nesting", () => {
  for (const f of ["", "\n", "x", "[]", "null", "1", '"s"', "{", '{"a":1}\nnope', "{}".concat("\n{}".repeat(1000))]) expect(codec.decode(f)).toBeUndefined();
  expect(codec.decode(Buffer.from("{}"))).toBeUndefined();
  expect(codec.decode(`${"[".repeat(200_000)}${"]".repeat(200_000)}`)).toBeUndefined();
});

test("encode joins replies with newlines, one JSON object each (what the SDK splits)", () => {
  const text = codec.encode([{ id: 1, connect: { client: "c" } }, {}]);
  expect(text).toBe('{"id":1,"connect":{"client":"c"}}\n{}');
  expect(text.split("\n").map((l) => JSON.parse(l))).toEqual([{ id: 1, connect: { client: "c" } }, {}]);
});
