import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tcpConnect } from "node:net";
import { MAX_BODY_BYTES, MAX_REQUEST_BYTES, NOTIFIER_SEND, userStoreSubject } from "@rt/protocol";
import { Fixture, uniqueUser } from "./helpers.ts";

/**
 * Hostile requests against the notifier, table by table, each with the exact status and a JSON
 * body: bearer tokens, content types, bodies that are not JSON or of the wrong shape (with the
 * JSON pointer of every error), sizes at and over the limits, unknown paths and methods, and the
 * same inputs over NATS (`notifier.send`).
 */

const TOKEN = "tok-right-0123456789";
const SECOND = "tok-second";
let f: Fixture;
beforeAll(async () => {
  f = await Fixture.start({ NOTIFIER_TOKENS: `${TOKEN}, ${SECOND}`, LOG_LEVEL: "warn" });
});
afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
});

interface Sent {
  status: number;
  headers: Headers;
  text: string;
}

async function send(body: string | Uint8Array | undefined, opts: { headers?: Record<string, string | undefined>; method?: string; path?: string } = {}): Promise<Sent> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries({ "content-type": "application/json", authorization: `Bearer ${TOKEN}`, ...opts.headers })) if (v !== undefined) headers[k] = v;
  const res = await fetch(`${f.svc.http}${opts.path ?? "/notifications"}`, { method: opts.method ?? "POST", headers, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The status, and the body parsed as `{errors: [{path, message}]}` with every message a string; returns the paths. */
function errorPaths(r: Sent, status: number): string[] {
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toBe("application/json");
  const body = JSON.parse(r.text) as { errors: Array<{ path: string; message: string }> };
  expect(Object.keys(body)).toEqual(["errors"]);
  expect(body.errors.length).toBeGreaterThan(0);
  for (const e of body.errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
  return body.errors.map((e) => e.path);
}

function accepted(r: Sent): { id: string; seq: number } {
  expect(r.status).toBe(202);
  const body = JSON.parse(r.text) as { id: string; seq: number; epoch: string };
  expect(body).toEqual({ id: expect.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), seq: expect.any(Number), epoch: expect.stringMatching(/^[A-Za-z0-9_-]{1,32}$/) });
  return body;
}

const ok = () => ({ user_id: uniqueUser("hostile"), body: "hello" });

describe("bearer tokens (NOTIFIER_TOKENS set)", () => {
  test.each([
    ["no Authorization header", undefined],
    ["Bearer and nothing", "Bearer"],
    ["Bearer and a space", "Bearer "],
    ["a wrong token", "Bearer tok-wrong"],
    ["a prefix of the right token", `Bearer ${TOKEN.slice(0, -1)}`],
    ["the right token and more", `Bearer ${TOKEN}x`],
    ["the right token in upper case", `Bearer ${TOKEN.toUpperCase()}`],
    ["both tokens, comma separated", `Bearer ${TOKEN},${SECOND}`],
    ["both tokens, space separated", `Bearer ${TOKEN} ${SECOND}`],
    ["the right token without a scheme", TOKEN],
    ["the right token as Basic", `Basic ${Buffer.from(`${TOKEN}:`).toString("base64")}`],
    ["the right token under scheme Token", `Token ${TOKEN}`],
    ["the whole NOTIFIER_TOKENS value", `Bearer ${TOKEN}, ${SECOND}`],
  ])("%s: 401", async (_name, authorization) => {
    const r = await send(JSON.stringify(ok()), { headers: { authorization } });
    errorPaths(r, 401);
    expect(r.headers.get("www-authenticate")).toBe("Bearer");
  });

  test.each([
    ["the first token", `Bearer ${TOKEN}`],
    ["the second token", `Bearer ${SECOND}`],
    ["a lower-case scheme", `bearer ${TOKEN}`],
  ])("%s: 202", async (_name, authorization) => {
    accepted(await send(JSON.stringify(ok()), { headers: { authorization } }));
  });

  test("a request with neither a token nor valid anything gets 401, not 400/413/415", async () => {
    errorPaths(await send("x".repeat(MAX_REQUEST_BYTES + 1), { headers: { authorization: undefined, "content-type": "text/plain" } }), 401);
  });
});

describe("content types", () => {
  test.each([
    ["no content-type", 415, undefined],
    ["text/plain", 415, "text/plain"],
    ["text/json", 415, "text/json"],
    ["application/jsonp", 415, "application/jsonp"],
    ["application/json-patch+json", 415, "application/json-patch+json"],
    ["multipart/form-data", 415, "multipart/form-data; boundary=x"],
    ["application/json, text/plain", 415, "application/json, text/plain"],
    ["APPLICATION/JSON", 202, "APPLICATION/JSON"],
    ["application/json with spaces and a charset", 202, "application/json ; charset=UTF-8"],
  ] as const)("%s: %d", async (_name, status, contentType) => {
    const r = await send(JSON.stringify(ok()), { headers: { "content-type": contentType } });
    if (status === 202) accepted(r);
    else errorPaths(r, status);
  });
});

describe("bodies that are not a valid request: 400 with the path of each error", () => {
  const json = (v: unknown) => JSON.stringify(v);
  const base = { user_id: "u", body: "x" };
  test.each([
    ["an empty body", "", [""]],
    ["only whitespace", "   \n", [""]],
    ["true", "true", [""]],
    ["a number", "1", [""]],
    ["a string", '"user_id"', [""]],
    ["an empty array (a batch of none)", "[]", [""]],
    ["an empty object", "{}", [""]],
    ["an unterminated object", '{"user_id":"u","body":"x"', [""]],
    ["trailing garbage", `${json(base)} x`, [""]],
    ["two JSON documents", `${json(base)}${json(base)}`, [""]],
    ["NaN", '{"user_id":"u","body":NaN}', [""]],
    ["single quotes", "{'user_id':'u','body':'x'}", [""]],
    ["a comment", '{"user_id":"u", /* hi */ "body":"x"}', [""]],
    ["user_id null", json({ ...base, user_id: null }), ["/user_id"]],
    ["user_id an array", json({ ...base, user_id: ["u"] }), ["/user_id"]],
    ["user_id an object", json({ ...base, user_id: { id: "u" } }), ["/user_id"]],
    ["user_id true", json({ ...base, user_id: true }), ["/user_id"]],
    ["user_id with NUL", json({ ...base, user_id: "a\u0000b" }), ["/user_id"]],
    ["user_id with a newline", json({ ...base, user_id: "a\nb" }), ["/user_id"]],
    ["user_id with DEL", json({ ...base, user_id: "a\u007f" }), ["/user_id"]],
    ["user_id with NEL (U+0085)", json({ ...base, user_id: "a\u0085" }), ["/user_id"]],
    ["user_id with a lone surrogate", '{"user_id":"a\\ud800","body":"x"}', ["/user_id"]],
    ["user_id of 257 emoji", json({ ...base, user_id: "😀".repeat(257) }), ["/user_id"]],
    ["body null", json({ ...base, body: null }), ["/body"]],
    ["body an array", json({ ...base, body: ["x"] }), ["/body"]],
    ["body an object", json({ ...base, body: {} }), ["/body"]],
    ["body false", json({ ...base, body: false }), ["/body"]],
    ["title a number", json({ ...base, title: 1 }), ["/title"]],
    ["title null", json({ ...base, title: null }), ["/title"]],
    ["title of 1025 characters", json({ ...base, title: "t".repeat(1025) }), ["/title"]],
    ["data an array", json({ ...base, data: [] }), ["/data"]],
    ["data null", json({ ...base, data: null }), ["/data"]],
    ["data a number", json({ ...base, data: 1 }), ["/data"]],
    ["idempotency_key a number", json({ ...base, idempotency_key: 1 }), ["/idempotency_key"]],
    ["idempotency_key of 257 characters", json({ ...base, idempotency_key: "k".repeat(257) }), ["/idempotency_key"]],
    ["idempotency_key null", json({ ...base, idempotency_key: null }), ["/idempotency_key"]],
    ["wait_for_delivery_ms 1.5", json({ ...base, wait_for_delivery_ms: 1.5 }), ["/wait_for_delivery_ms"]],
    ["wait_for_delivery_ms as a string", json({ ...base, wait_for_delivery_ms: "10" }), ["/wait_for_delivery_ms"]],
    ["wait_for_delivery_ms over 30 s", json({ ...base, wait_for_delivery_ms: 30_001 }), ["/wait_for_delivery_ms"]],
    ["every field wrong at once", json({ user_id: 1, body: 2, title: 3, data: 4 }), ["/user_id", "/body", "/title", "/data"]],
    ["data nested 100k arrays deep", `{"user_id":"u","body":"x","data":{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`, ["/data"]],
    ["data nested 40k objects deep", `{"user_id":"u","body":"x","data":${'{"a":'.repeat(40_000)}1${"}".repeat(40_000)}}`, ["/data"]],
  ])("%s", async (_name, body, paths) => {
    const got = errorPaths(await send(body), 400);
    for (const p of paths) expect(got).toContain(p);
  });

  test.each([
    ["bytes that are not UTF-8", new Uint8Array([0x7b, 0x22, 0x75, 0xff, 0xfe, 0x22, 0x7d])],
    ["UTF-16LE JSON", new Uint8Array(Buffer.from(JSON.stringify(base), "utf16le"))],
    ["a NUL byte before the JSON", new Uint8Array([0, ...Buffer.from(JSON.stringify(base))])],
  ])("%s: 400 at the root", async (_name, bytes) => {
    expect(errorPaths(await send(bytes), 400)).toEqual([""]);
  });
});

describe("odd but valid requests: 202, stored as sent, nothing else", () => {
  test.each([
    ["a user id with NATS wildcards and dots", "a.*.>"],
    ["a user id of one space", " "],
    ["a user id with U+2028", "line\u2028sep"],
    ["a user id of 256 characters", "u".repeat(256)],
    ["a user id with $ and subject-like text", "$JS.API.STREAM.DELETE.NOTIFICATIONS"],
  ])("%s", async (_name, user) => {
    const { seq } = accepted(await send(JSON.stringify({ user_id: user, body: "odd" })));
    const stored = await f.stored(userStoreSubject(user));
    expect(stored.map((s) => [s.seq, s.user_id, s.body])).toEqual([[seq, user, "odd"]]);
  });

  test("__proto__ and constructor keys are stored as plain data and pollute nothing", async () => {
    const user = uniqueUser("proto");
    const raw = `{"user_id":"${user}","body":"x","__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}},"data":{"__proto__":{"x":1},"k":"v"}}`;
    const { seq } = accepted(await send(raw));
    const [stored] = await f.stored(userStoreSubject(user));
    expect(stored!.seq).toBe(seq);
    expect(Object.keys(stored!).sort()).toEqual(["body", "created_at", "data", "id", "prev_seq", "seq", "user_id"]);
    expect(JSON.stringify(stored!.data)).toBe('{"__proto__":{"x":1},"k":"v"}');
    // Another request right after: nothing inherited.
    accepted(await send(JSON.stringify(ok())));
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  test("data nested 20 levels deep is fine", async () => {
    accepted(await send(`{"user_id":"${uniqueUser()}","body":"x","data":${'{"a":'.repeat(20)}1${"}".repeat(20)}}`));
  });
});

describe("sizes", () => {
  const padTo = (bytes: number, extra: Record<string, unknown> = {}) => {
    const shell = JSON.stringify({ user_id: uniqueUser(), body: "x", ...extra, data: { pad: "" } });
    return JSON.stringify({ ...JSON.parse(shell), data: { pad: "p".repeat(bytes - Buffer.byteLength(shell)) } });
  };
  test("a body field of 64 KiB + 1 byte: 413 at /body", async () => {
    expect(errorPaths(await send(JSON.stringify({ user_id: "u", body: "b".repeat(MAX_BODY_BYTES + 1) })), 413)).toEqual(["/body"]);
  });
  test("a body field of 16,385 four-byte emoji (64 KiB + 4 bytes): 413 at /body", async () => {
    expect(errorPaths(await send(JSON.stringify({ user_id: "u", body: "😀".repeat(MAX_BODY_BYTES / 4 + 1) })), 413)).toEqual(["/body"]);
  });
  test("a body field of 64 KiB written as \\u escapes (6x the bytes on the wire): 202, counted after decoding", async () => {
    const escaped = "\\u0062".repeat(MAX_BODY_BYTES / 2); // 32 Ki characters, 192 KiB of JSON
    accepted(await send(`{"user_id":"${uniqueUser()}","body":"${escaped}"}`));
  });
  test("a request of exactly 256 KiB: 202", async () => {
    const body = padTo(MAX_REQUEST_BYTES);
    expect(Buffer.byteLength(body)).toBe(MAX_REQUEST_BYTES);
    accepted(await send(body));
  });
  test("a request of 256 KiB + 1 byte: 413", async () => {
    const body = padTo(MAX_REQUEST_BYTES + 1);
    expect(Buffer.byteLength(body)).toBe(MAX_REQUEST_BYTES + 1);
    expect(errorPaths(await send(body), 413)).toEqual([""]);
  });
  test("a request of 1 MiB: 413 with a JSON body", async () => {
    errorPaths(await send(padTo(1024 * 1024)), 413);
  });

  /** Sends a request by hand, with a Content-Length that need not match the body. */
  function rawPost(contentLength: string, body: string): Promise<{ status: number; contentType: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const s = tcpConnect({ host: "127.0.0.1", port: f.svc.port! }, () => {
        s.write(`POST /notifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${contentLength}\r\n\r\n${body}`);
      });
      let buf = "";
      const done = () => {
        s.destroy();
        const m = /^HTTP\/1\.1 (\d{3})/.exec(buf);
        if (!m) return reject(new Error(`no answer: ${JSON.stringify(buf)}`));
        const [head, ...rest] = buf.split("\r\n\r\n");
        resolve({ status: Number(m[1]), contentType: /content-type: *([^\r\n]+)/i.exec(head!)?.[1], body: rest.join("\r\n\r\n") });
      };
      s.on("data", (d) => {
        buf += d.toString();
        const end = buf.indexOf("\r\n\r\n");
        const len = /content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1];
        if (end >= 0 && (len === undefined || buf.length - end - 4 >= Number(len))) done();
      });
      s.on("close", () => (buf ? done() : reject(new Error("closed without an answer"))));
      setTimeout(done, 3000);
    });
  }

  test.each([
    ["300,000 declared, 2 bytes sent", "300000"],
    ["999,999,999,999 declared, 2 bytes sent", "999999999999"],
  ])("Content-Length %s: 413 with a JSON body, without waiting for the bytes", async (_name, cl) => {
    const r = await rawPost(cl, "{}");
    expect(r.status).toBe(413);
    expect(r.contentType).toBe("application/json");
    expect(JSON.parse(r.body)).toEqual({ errors: [{ path: expect.any(String), message: expect.any(String) }] });
  });
});

describe("paths and methods", () => {
  test.each([
    ["/", "POST"],
    ["/notification", "POST"],
    ["/notifications/", "POST"],
    ["/NOTIFICATIONS", "POST"],
    ["/notifications/x", "POST"],
    ["/notifications%00", "POST"],
    ["/notifications.json", "POST"],
    ["/ap/notifications", "POST"],
    ["/healthz/", "GET"],
  ])("%s (%s): 404", async (path, method) => {
    errorPaths(await send(method === "GET" ? undefined : JSON.stringify(ok()), { path, method }), 404);
  });

  test.each(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])("%s /notifications: 405, Allow: POST", async (method) => {
    const r = await send(method === "GET" ? undefined : JSON.stringify(ok()), { method });
    errorPaths(r, 405);
    expect(r.headers.get("allow")).toBe("POST");
  });

  test("HEAD /notifications: 405, Allow: POST", async () => {
    const r = await send(undefined, { method: "HEAD" });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("POST");
  });

  test.each(["PUT", "DELETE"])("%s /readyz: 405", async (method) => {
    errorPaths(await send(undefined, { method, path: "/readyz" }), 405);
  });

  test("a wrong method without a token: 405 (the route is checked first), an unknown path without a token: 404", async () => {
    errorPaths(await send(undefined, { method: "GET", headers: { authorization: undefined } }), 405);
    errorPaths(await send("{}", { path: "/admin", headers: { authorization: undefined } }), 404);
  });
});

describe("notifier.send over NATS: the same checks, the status in the answer", () => {
  async function request(payload: string | Uint8Array): Promise<Record<string, unknown>> {
    const m = await f.nc.request(NOTIFIER_SEND, payload, { timeout: 5000 });
    return m.json<Record<string, unknown>>();
  }
  test.each([
    ["an empty payload", 400, "", [""]],
    ["not JSON", 400, "{nope", [""]],
    ["bytes that are not UTF-8", 400, new Uint8Array([0x7b, 0xff, 0x7d]), [""]],
    ["a wrong shape", 400, JSON.stringify({ user_id: 1, body: null }), ["/user_id", "/body"]],
    ["a user id with a control character", 400, JSON.stringify({ user_id: "a\u0001", body: "x" }), ["/user_id"]],
    ["a body of 64 KiB + 1", 413, JSON.stringify({ user_id: "u", body: "b".repeat(MAX_BODY_BYTES + 1) }), ["/body"]],
    ["a request over 256 KiB", 413, JSON.stringify({ user_id: "u", body: "x", data: { p: "p".repeat(MAX_REQUEST_BYTES) } }), [""]],
    ["data nested 100k deep", 400, `{"user_id":"u","body":"x","data":{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`, ["/data"]],
  ] as const)("%s: %d", async (_name, status, payload, paths) => {
    const a = await request(payload);
    expect(Object.keys(a).sort()).toEqual(["errors", "status"]);
    expect(a.status).toBe(status);
    const errors = a.errors as Array<{ path: string; message: string }>;
    for (const e of errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
    for (const p of paths) expect(errors.map((e) => e.path)).toContain(p);
  });

  test("a valid request answers {id, seq} and needs no bearer token", async () => {
    const a = await request(JSON.stringify(ok()));
    expect(a).toEqual({ id: expect.any(String), seq: expect.any(Number), epoch: expect.any(String) });
  });

  test("after all of the above the notifier is healthy and ready", async () => {
    expect((await fetch(`${f.svc.http}/healthz`)).status).toBe(200);
    expect((await fetch(`${f.svc.http}/readyz`)).status).toBe(200);
    accepted(await send(JSON.stringify(ok())));
  });
});
