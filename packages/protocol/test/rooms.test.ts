import { describe, expect, test } from "bun:test";
import { isOwnStoredForm, isStoredForm, readRoomPayload, roomPayload } from "../src/rooms.ts";

/** isStoredForm for a payload text as a gateway reads it from NATS. */
const judge = (text: string): boolean => isStoredForm(text, readRoomPayload(text)!);

describe("isStoredForm", () => {
  test("what roomPayload writes is a stored form, with or without info and chan_info, whatever the data", () => {
    for (const data of [1, "x", null, [1, { a: 2 }], { text: "hi" }, { text: "{\"data\":1}" }, "}"]) {
      expect(judge(roomPayload(JSON.stringify(data)))).toBe(true);
      expect(judge(roomPayload(JSON.stringify(data), { user: "u", client: "c" }))).toBe(true);
      expect(judge(roomPayload(JSON.stringify(data), { user: "u", client: "c", chan_info: { role: "x" } }))).toBe(true);
    }
  });

  test("text that is not JSON (a service's plain text, read as {data:{text}}) is not, even when it looks like an object", () => {
    for (const text of ["hello", "{hello}", '{"data":1', "{not json}"]) {
      expect(readRoomPayload(text)).toEqual({ data: { text } });
      expect(judge(text)).toBe(false);
    }
  });

  test("an object with fields beyond data and info is not (a push must not carry them, an offset least of all)", () => {
    expect(judge('{"data":1,"offset":5}')).toBe(false);
    expect(judge('{"data":1,"info":{"user":"u","client":"c"},"x":1}')).toBe(false);
    expect(judge('{"data":1,"__proto__":{"a":1}}')).toBe(false);
    // Tags go after the offset in a push (toProtocol's order): serialized, not spliced.
    expect(judge(roomPayload("1", undefined, { a: "b" }))).toBe(false);
  });

  test("text after the closing brace is not spliced (whitespace is valid JSON, but the splice cuts the last character)", () => {
    expect(judge('{"data":1} ')).toBe(false);
    expect(judge('{"data":1}')).toBe(true);
  });
});

describe("isOwnStoredForm", () => {
  test("agrees with isStoredForm on what roomPayload writes without tags: the delta flag is the one thing that makes it not a stored form", () => {
    for (const data of [1, "x", { delta: true }, { a: { delta: true } }, ',"delta":true}', [true]]) {
      for (const info of [undefined, { user: "u", client: "c" }]) {
        for (const delta of [false, true]) {
          const payload = roomPayload(JSON.stringify(data), info, undefined, delta);
          expect(isOwnStoredForm(payload)).toBe(isStoredForm(payload, readRoomPayload(payload)!));
          expect(isOwnStoredForm(payload)).toBe(!delta);
        }
      }
    }
  });
});

