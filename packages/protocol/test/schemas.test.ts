import { describe, expect, test } from "bun:test";
import { chatMessage, chatReceived, metricsSample, notificationFrame, notifyRequest, parseJson, storedNotification, liveNotification } from "../src/index.ts";

describe("chat frames", () => {
  test("type defaults to text and unknown properties are dropped", () => {
    const r = parseJson(chatMessage, JSON.stringify({ content: "hi", extra: 1 }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(JSON.parse(chatReceived(r.value))).toEqual({ status: "received", data: { content: "hi", type: "text" } });
  });

  test("errors carry a JSON pointer and a message", () => {
    const r = parseJson(chatMessage, JSON.stringify({ content: 5 }));
    expect(r).toEqual({ ok: false, errors: [{ path: "/content", message: expect.any(String) }] });
  });

  test("non-JSON is an error at the root", () => {
    expect(parseJson(chatMessage, "{nope")).toEqual({ ok: false, errors: [{ path: "", message: "must be valid JSON" }] });
  });

  test("a missing content is reported", () => {
    const r = chatMessage.validate({ type: "x" });
    expect(r.ok).toBe(false);
  });
});

describe("notifier request", () => {
  test("accepts the documented shape (docs/messages.md)", () => {
    expect(notifyRequest.check({ user_id: "用户", body: "b", title: "t", data: { a: 1 }, idempotency_key: "k" })).toBe(true);
  });
  test.each([
    [{ body: "b" }],
    [{ user_id: "", body: "b" }],
    [{ user_id: "u".repeat(257), body: "b" }],
    [{ user_id: "u", body: 5 }],
    [{ user_id: "u", body: "b", data: [1] }],
    [{ user_id: "u", body: "b", idempotency_key: "" }],
    [{ user_id: "a\u0000b", body: "b" }],
    [{ user_id: "a\nb", body: "b" }],
  ])("rejects %p", (v) => {
    expect(notifyRequest.check(v)).toBe(false);
  });
});

describe("notifications", () => {
  const stored = { id: "abc", user_id: "u", body: "b", created_at: new Date(0).toISOString(), prev_seq: 0 };
  test("the client frame has seq and no internal fields", () => {
    expect(JSON.parse(notificationFrame(stored, 7, "E1"))).toEqual({ id: "abc", seq: 7, epoch: "E1", user_id: "u", body: "b", created_at: stored.created_at });
  });
  test("stored and live shapes", () => {
    expect(storedNotification.check(stored)).toBe(true);
    expect(liveNotification.check({ ...stored, seq: 1 })).toBe(true);
    expect(liveNotification.check(stored)).toBe(false);
    expect(storedNotification.check({ ...stored, id: "a.b" })).toBe(false);
  });
});

describe("metrics samples", () => {
  test("range checks", () => {
    const s = { timestamp: new Date().toISOString(), cpu_load: 0.5, memory_usage: 40, host: "h" };
    expect(metricsSample.check(s)).toBe(true);
    expect(metricsSample.check({ ...s, memory_usage: 101 })).toBe(false);
    expect(metricsSample.check({ ...s, host: "" })).toBe(false);
  });
});
