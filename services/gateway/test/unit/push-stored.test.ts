import { describe, expect, test } from "bun:test";
import { readRoomPayload, roomPayload } from "@rt/protocol";
import { jsonPushes } from "../../src/protocols/centrifugo/push.ts";

describe("jsonPushes.stored", () => {
  // The frame a subscriber got before: the publication read and serialized again (stream-hub's toProtocol order: data, info, offset).
  const framed = (channel: string, payload: string, offset?: number) => {
    const pub = readRoomPayload(payload)!;
    const p = pub.info ? { data: pub.data, info: pub.info } : { data: pub.data };
    return jsonPushes.frame(channel, { pub: offset === undefined ? p : { ...p, offset } }) as string;
  };

  test("is the frame serialized from the read publication, byte for byte, with and without an offset", () => {
    const channel = 'chat:r"1\\é';
    for (const data of [1, "x", null, [1, { a: "é\u2028" }], { text: "hi" }]) {
      for (const payload of [roomPayload(JSON.stringify(data)), roomPayload(JSON.stringify(data), { user: "u", client: "c" }), roomPayload(JSON.stringify(data), { user: "u", client: "c", chan_info: { a: [1] } })]) {
        expect(jsonPushes.stored!(channel, payload, 42)).toBe(framed(channel, payload, 42));
        expect(jsonPushes.stored!(channel, payload)).toBe(framed(channel, payload));
        expect(JSON.parse(jsonPushes.stored!(channel, payload, 7))).toEqual(JSON.parse(framed(channel, payload, 7)));
      }
    }
  });
});
