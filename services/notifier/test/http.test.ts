import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MAX_BODY_BYTES, NOTIFIER_SEND, decodeToken, storedNotification, userLiveSubject, userStoreSubject } from "@rt/protocol";
import { Fixture, liveEvents, scrape, series, uniqueUser } from "./helpers.ts";

let f: Fixture;
beforeAll(async () => {
  f = await Fixture.start();
});
afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
});

describe("POST /notifications", () => {
  test("answers 202 {id, seq}; the stream holds each notification with a prev_seq chain", async () => {
    const user = uniqueUser();
    const answers = [];
    for (const [i, extra] of [{}, { title: "T" }, { data: { k: [1, 2] } }].entries()) {
      const a = await f.post({ user_id: user, body: `hello ${i}`, ...extra });
      expect(a.status).toBe(202);
      expect(Object.keys(a.json).sort()).toEqual(["epoch", "id", "seq"]);
      expect(a.json.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(a.json.seq).toBeGreaterThan(0);
      answers.push({ id: a.json.id as string, seq: a.json.seq as number });
    }
    const stored = await f.stored(userStoreSubject(user));
    expect(stored.map((s) => ({ id: s.id, seq: s.seq }))).toEqual(answers);
    expect(stored.map((s) => s.prev_seq)).toEqual([0, answers[0]!.seq, answers[1]!.seq]);
    for (const s of stored) {
      const { seq: _seq, ...n } = s;
      expect(storedNotification.check(n)).toBe(true);
      expect(n.user_id).toBe(user);
      expect(new Date(n.created_at).toISOString()).toBe(n.created_at);
    }
    expect(stored[0]!.body).toBe("hello 0");
    expect(stored[0]!.title).toBeUndefined();
    expect(stored[1]!.title).toBe("T");
    expect(stored[2]!.data).toEqual({ k: [1, 2] });
  });

  test("publishes the live event, with its seq, on the user's live subject", async () => {
    const user = uniqueUser();
    const live = await liveEvents(f.nc, userLiveSubject(user));
    const first = await f.post({ user_id: user, body: "one", title: "t", data: { a: 1 } });
    const second = await f.post({ user_id: user, body: "two" });
    const e1 = await live.next();
    const e2 = await live.next();
    expect(e1).toMatchObject({ id: first.json.id, seq: first.json.seq, user_id: user, title: "t", body: "one", data: { a: 1 }, prev_seq: 0 });
    expect(e2).toMatchObject({ id: second.json.id, seq: second.json.seq, body: "two", prev_seq: first.json.seq });
    expect(typeof e1.created_at).toBe("string");
  });

  test("seq only grows for a user, with other users interleaved", async () => {
    const [a, b] = [uniqueUser("a"), uniqueUser("b")];
    const seqs: Record<string, number[]> = { [a]: [], [b]: [] };
    for (let i = 0; i < 6; i++) {
      const user = i % 3 === 0 ? b : a;
      const r = await f.post({ user_id: user, body: `m${i}` });
      expect(r.status).toBe(202);
      seqs[user]!.push(r.json.seq);
    }
    for (const list of Object.values(seqs)) expect(list).toEqual([...list].sort((x, y) => x - y));
    expect(new Set([...seqs[a]!, ...seqs[b]!]).size).toBe(6);
  });

  test("odd user ids land on distinct, encoded subjects", async () => {
    const users = ["auth0|123", "a.b@example.com", "用户", "*", "x.>", "with space", "a.b", "a"];
    const subjects = users.map(userStoreSubject);
    expect(new Set(subjects).size).toBe(users.length);
    for (const [i, user] of users.entries()) {
      const live = await liveEvents(f.nc, userLiveSubject(user));
      const r = await f.post({ user_id: user, body: `for ${user}` });
      expect(r.status).toBe(202);
      expect((await live.next()).user_id).toBe(user);
      const subject = subjects[i]!;
      expect(subject).toMatch(/^notify\.user\.[A-Za-z0-9_-]+$/);
      expect(decodeToken(subject.slice("notify.user.".length))).toBe(user);
      const stored = await f.stored(subject);
      expect(stored.map((s) => s.id)).toEqual([r.json.id]);
      expect(stored[0]!.user_id).toBe(user);
    }
  });

  const invalid: Array<[string, unknown, string]> = [
    ["missing body", { user_id: "u" }, ""], // a missing property is reported at its parent, naming it
    ["empty user_id", { user_id: "", body: "x" }, "/user_id"],
    ["user_id of 257 characters", { user_id: "u".repeat(257), body: "x" }, "/user_id"],
    ["body not a string", { user_id: "u", body: 42 }, "/body"],
    ["user_id not a string", { user_id: 7, body: "x" }, "/user_id"],
    ["data not an object", { user_id: "u", body: "x", data: "nope" }, "/data"],
    ["title not a string", { user_id: "u", body: "x", title: ["t"] }, "/title"],
    ["empty idempotency_key", { user_id: "u", body: "x", idempotency_key: "" }, "/idempotency_key"],
    ["negative wait_for_delivery_ms", { user_id: "u", body: "x", wait_for_delivery_ms: -1 }, "/wait_for_delivery_ms"],
    ["a JSON array", [], ""],
    ["JSON null", null, ""],
  ];
  test.each(invalid)("400 for %s", async (_name, body, path) => {
    const r = await f.post(body);
    expect(r.status).toBe(400);
    expect(r.json.errors.length).toBeGreaterThan(0);
    expect(r.json.errors.map((e: { path: string }) => e.path)).toContain(path);
    for (const e of r.json.errors) expect(typeof e.message).toBe("string");
  });

  test("a missing property is named in the message", async () => {
    const r = await f.post({ user_id: "u" });
    expect(r.json.errors.some((e: { message: string }) => e.message.includes("body"))).toBe(true);
  });

  test("400 for text that is not JSON, and for bytes that are not UTF-8", async () => {
    const r = await f.post("{not json", { raw: true });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ errors: [{ path: "", message: "must be valid JSON" }] });
    const res = await fetch(`${f.svc.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: new Uint8Array([0x22, 0xff, 0xfe, 0x22]) });
    expect(res.status).toBe(400);
  });

  test("413 for a body over 64 KiB of UTF-8 (counted in bytes, not characters)", async () => {
    const r = await f.post({ user_id: "u", body: "x".repeat(65 * 1024) });
    expect(r.status).toBe(413);
    expect(r.json.errors[0].path).toBe("/body");
    const multiByte = "é".repeat(MAX_BODY_BYTES / 2 + 1); // 32 Ki characters, 64 KiB + 2 bytes
    expect((await f.post({ user_id: "u", body: multiByte })).status).toBe(413);
    expect((await f.post({ user_id: uniqueUser(), body: "x".repeat(MAX_BODY_BYTES) })).status).toBe(202);
  });

  test("413 for a request over 256 KiB, by content-length or by the bytes actually sent", async () => {
    const big = { user_id: "u", body: "x", data: { blob: "y".repeat(300 * 1024) } };
    const r = await f.post(big);
    expect(r.status).toBe(413);
    expect(r.json.errors[0].message).toContain("bytes");
    // Chunked: no content-length, so only counting the bytes read catches it.
    const text = JSON.stringify(big);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        const bytes = new TextEncoder().encode(text);
        for (let i = 0; i < bytes.length; i += 16 * 1024) c.enqueue(bytes.subarray(i, i + 16 * 1024));
        c.close();
      },
    });
    const res = await fetch(`${f.svc.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: stream });
    expect(res.status).toBe(413);
  });

  test("415 unless the content-type is application/json", async () => {
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", null]) {
      const r = await f.post({ user_id: "u", body: "x" }, { contentType });
      expect(r.status).toBe(415);
      expect(r.json.errors[0].message).toContain("application/json");
    }
    expect((await f.post({ user_id: uniqueUser(), body: "x" }, { contentType: "application/json; charset=utf-8" })).status).toBe(202);
  });
});

describe("other routes", () => {
  test("healthz and readyz answer 200", async () => {
    expect((await fetch(`${f.svc.http}/healthz`)).status).toBe(200);
    expect((await fetch(`${f.svc.http}/readyz`)).status).toBe(200);
  });

  test("404 JSON for an unknown path, 405 JSON for a wrong method", async () => {
    const nf = await fetch(`${f.svc.http}/nope`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { errors: Array<{ message: string }> }).errors[0]!.message).toBe("not found");
    const na = await fetch(`${f.svc.http}/notifications`);
    expect(na.status).toBe(405);
    expect(na.headers.get("allow")).toBe("POST");
    expect(((await na.json()) as { errors: unknown[] }).errors.length).toBe(1);
    expect((await fetch(`${f.svc.http}/healthz`, { method: "POST" })).status).toBe(405);
  });
});

describe("an oversize body from a client that sends it all before reading", () => {
  test("Python's urllib posting 2 MB reads the 413 with its JSON body, not a broken pipe", async () => {
    const script = [
      "import json, sys, urllib.request, urllib.error",
      "req = urllib.request.Request(sys.argv[1], data=b'{\"user_id\":\"u\",\"body\":\"' + b'x' * (2 * 1024 * 1024) + b'\"}', headers={'content-type': 'application/json'})",
      "try:",
      "    r = urllib.request.urlopen(req, timeout=10)",
      "    print(r.status, r.read().decode())",
      "except urllib.error.HTTPError as e:",
      "    print(e.code, e.read().decode())",
    ].join("\n");
    for (let i = 0; i < 3; i++) {
      const p = Bun.spawn(["python3", "-c", script, `${f.svc.http}/notifications`], { stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      expect(err).toBe("");
      expect(code).toBe(0);
      const [status, ...rest] = out.trim().split(" ");
      expect(status).toBe("413");
      expect(JSON.parse(rest.join(" "))).toEqual({ errors: [{ path: "", message: expect.stringContaining("at most") }] });
    }
  });
});

describe("GET /metrics", () => {
  test("counts stores, idempotent repeats, failed publishes, every call by method, code and transport, and the store's ack time", async () => {
    const before = await scrape(f.svc.http);
    const user = uniqueUser("metrics");
    expect((await f.post({ user_id: user, body: "m", idempotency_key: "metrics-1" })).status).toBe(202);
    expect((await f.post({ user_id: user, body: "m", idempotency_key: "metrics-1" })).status).toBe(200);
    expect((await f.post({ user_id: user })).status).toBe(400);
    const api = (method: string) => fetch(`${f.svc.http}/api/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    // No gateway runs here: `info` answers error 108 inside a 200.
    expect((await api("info")).status).toBe(200);
    expect((await api("no_such_method")).status).toBe(404);
    const request = async (subject: string, body: unknown) => (await f.nc.request(subject, JSON.stringify(body), { timeout: 5000 })).json<Record<string, unknown>>();
    expect((await request(NOTIFIER_SEND, { user_id: "" })).status).toBe(400);
    // No gateway created the ROOMS stream: the room publication fails (error 100) and counts as a failed publish.
    expect(await request("api.publish", { channel: "chat:metrics", data: {} })).toEqual({ error: { code: 100, message: expect.any(String) } });
    expect(await request("api.no_such_method", {})).toEqual({ error: { code: 104, message: "not found" } });
    const after = await scrape(f.svc.http);

    const delta = (name: string, labels: Record<string, string | number> = {}) => (after.get(series(name, labels)) ?? 0) - (before.get(series(name, labels)) ?? 0);
    expect(delta("rt_notifications_stored_total")).toBe(1);
    expect(delta("rt_notifications_deduplicated_total")).toBe(1);
    expect(delta("rt_nats_publish_failures_total")).toBe(1);
    expect(after.get("rt_nats_connected")).toBe(1);
    expect(delta("rt_jetstream_store_duration_seconds_count", { stream: "NOTIFICATIONS" })).toBeGreaterThanOrEqual(2); // the store and the repeat were both acked
    const calls = (method: string, code: number, transport: string) => delta("rt_api_calls_total", { method, code, transport });
    expect(calls("notify", 202, "http")).toBe(1);
    expect(calls("notify", 200, "http")).toBe(1);
    expect(calls("notify", 400, "http")).toBe(1);
    expect(calls("info", 200, "http")).toBe(1);
    expect(calls("unknown", 404, "http")).toBe(1);
    expect(calls("notify", 400, "nats")).toBe(1);
    expect(calls("publish", 100, "nats")).toBe(1);
    expect(calls("unknown", 104, "nats")).toBe(1);
    expect([...after.keys()].filter((k) => k.includes("no_such_method"))).toEqual([]);
  });

  test("GET only: another method is 405 with a JSON error, like every other route", async () => {
    const r = await fetch(`${f.svc.http}/metrics`, { method: "POST" });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET");
    expect(await r.json()).toEqual({ errors: [{ path: "", message: "method not allowed" }] });
  });
});
