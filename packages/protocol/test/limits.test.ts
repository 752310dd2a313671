// The publication path's limits hold by construction: what a producer lets through the gateways
// relay, and what the gateways relay fits the streams' max_msg_size with its headers.
import { expect, test } from "bun:test";
import {
  MAX_REQUEST_BYTES, MAX_STORED_NOTIFICATION_BYTES, NOTIFICATIONS_MAX_MSG_SIZE, PUBLICATION_ENVELOPE_BYTES, STREAM_HEADER_BYTES,
  dataSizeError, isUserId, maxStoredPublicationBytes, roomMaxMessageSize, roomPayload, storedSizeError,
} from "@rt/protocol";

const bytes = (s: string): number => Buffer.byteLength(s, "utf8");
const M = 4096;

test("data of MAX_MESSAGE_BYTES with the largest info is stored within what the gateways relay", () => {
  const client = crypto.randomUUID();
  // The largest user ids as JSON: 256 characters of 4 bytes, or 256 that JSON escapes (2 bytes each).
  for (const user of ["😀".repeat(256), '"'.repeat(256), "\\".repeat(256)]) {
    expect(isUserId(user)).toBe(true);
    const dataJson = JSON.stringify("x".repeat(M - 2));
    expect([bytes(dataJson), dataSizeError(dataJson, M)]).toEqual([M, undefined]);
    const payload = roomPayload(dataJson, { user, client });
    expect(bytes(payload)).toBeLessThanOrEqual(maxStoredPublicationBytes(M));
    expect(storedSizeError(payload, M)).toBeUndefined();
  }
  // The server API's publications carry no info.
  expect(bytes(roomPayload(JSON.stringify("x".repeat(M - 2))))).toBe(M + 9);
});

test("the headers of either stream fit STREAM_HEADER_BYTES, so max_msg_size takes the largest relayed payload", () => {
  const seq = Number.MAX_SAFE_INTEGER;
  // A gateway's room publish (origin: 9 random bytes in base64url), the server API's keyed one, a keyed notification that waits.
  const room = `NATS/1.0\r\nRt-Origin: ${"o".repeat(12)}\r\nNats-Msg-Id: ${"o".repeat(12)}:${seq}\r\nRt-Seq: ${seq}\r\n\r\n`;
  const api = `NATS/1.0\r\nNats-Msg-Id: api:${"k".repeat(43)}\r\n\r\n`;
  const notification = `NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 18446744073709551615\r\nNats-Msg-Id: ${"f".repeat(64)}\r\nRt-Delivery-Wait-Ms: 30000\r\n\r\n`;
  for (const h of [room, api, notification]) expect(bytes(h)).toBeLessThanOrEqual(STREAM_HEADER_BYTES);
  expect(roomMaxMessageSize(M)).toBe(maxStoredPublicationBytes(M) + STREAM_HEADER_BYTES);
  expect(NOTIFICATIONS_MAX_MSG_SIZE).toBe(MAX_STORED_NOTIFICATION_BYTES + STREAM_HEADER_BYTES);
  expect(MAX_STORED_NOTIFICATION_BYTES).toBe(MAX_REQUEST_BYTES + 1024);
});

test("each rule at its limit and one byte over, with a message naming the limit", () => {
  expect(dataSizeError("é".repeat(M / 2), M)).toBeUndefined();
  expect(dataSizeError(`${"é".repeat(M / 2)}x`, M)).toBe(`data is ${M + 1} bytes; at most ${M} (MAX_MESSAGE_BYTES)`);
  const limit = maxStoredPublicationBytes(M);
  expect(storedSizeError("s".repeat(limit), M)).toBeUndefined();
  expect(storedSizeError("s".repeat(limit + 1), M)).toBe(`the publication is ${limit + 1} bytes as stored; at most ${limit} (MAX_MESSAGE_BYTES plus ${PUBLICATION_ENVELOPE_BYTES})`);
});
