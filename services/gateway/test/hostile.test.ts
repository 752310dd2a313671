import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { userLiveSubject, type NotificationFrame } from "@rt/protocol";
import {
  Opcode, RawSocket, ServiceProcess, TestNats, TestSocket, TEST_JWT_SECRET, closePayload, encodeFrame, metric, rawUpgrade, roomJoined, roomTexts, signToken, waitFor, NATS_ADMIN,
} from "@rt/testkit";

/**
 * Hostile input against the gateway, table by table: request paths and room ids, origins, `since`,
 * broken handshakes, then frames (oversize, binary, invalid UTF-8, protocol violations, deep JSON,
 * prototype keys). Each row states the exact status (with its JSON body), reply frame or close code;
 * after every row that closes a socket, a bystander socket opened at the start must still echo.
 */

const ORIGIN = "https://app.example.com";
const LIMIT = 64 * 1024;

let nats: TestNats;
/** Defaults, except RATE_LIMIT_PER_SEC=0 so the bystander is never rate limited. */
let gw: ServiceProcess;
/** ALLOWED_ORIGINS set and MAX_MESSAGE_BYTES=4 MiB (to hand the JSON parser megabytes). */
let big: ServiceProcess;
let bystander: TestSocket;
let token: string;

beforeAll(async () => {
  nats = await TestNats.start({ maxPayload: 8 * 1024 * 1024 }); // room frames of 4 MiB must fit through NATS
  const base = { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_SECRET: TEST_JWT_SECRET };
  [gw, big] = await Promise.all([
    ServiceProcess.start("gateway", { ...base, RATE_LIMIT_PER_SEC: "0" }),
    ServiceProcess.start("gateway", { ...base, RATE_LIMIT_PER_SEC: "0", ALLOWED_ORIGINS: ORIGIN, MAX_MESSAGE_BYTES: String(4 * 1024 * 1024), BACKPRESSURE_LIMIT_BYTES: String(10 * 1024 * 1024) }),
  ]);
  bystander = await TestSocket.open(`${gw.ws}/ws-chat`);
  token = await signToken("hostile-user");
});
afterAll(async () => {
  bystander?.close();
  await Promise.all([gw, big].map((g) => g?.[Symbol.asyncDispose]()));
  await nats?.[Symbol.asyncDispose]();
});

/** The bystander still gets its exact echo, and the process still answers /healthz. */
async function othersUnaffected(g: ServiceProcess = gw): Promise<void> {
  const content = `still here ${Math.random()}`;
  bystander.send({ content });
  expect(await bystander.nextJson()).toEqual({ status: "received", data: { content, type: "text" } });
  expect(bystander.closeCode).toBeUndefined();
  expect((await fetch(`${g.http}/healthz`)).status).toBe(200);
}

async function expectRefused(g: ServiceProcess, path: string, status: number, headers: Record<string, string | undefined> = {}): Promise<void> {
  const r = await rawUpgrade(g.port!, path, headers);
  expect(r.status).toBe(status);
  if (status === 101) return;
  expect(r.headers["content-type"]).toBe("application/json");
  expect(JSON.parse(r.body)).toEqual({ error: expect.any(String) });
}

describe("paths and room ids before the upgrade (sent verbatim, no client-side normalisation)", () => {
  const valid64 = "A1_-".repeat(16);
  test.each([
    // room ids: 1 to 64 of A-Z a-z 0-9 _ - after percent-decoding, anything else 400
    ["/chat/a.b.c", 400],
    ["/chat/.hidden", 400],
    ["/chat/%2e", 400],
    ["/chat/*", 400],
    ["/chat/a*", 400],
    ["/chat/%2A", 400],
    ["/chat/>", 400],
    ["/chat/a>b", 400],
    ["/chat/%3E", 400],
    ["/chat/a%20", 400],
    ["/chat/%20", 400],
    ["/chat/a+b", 400],
    ["/chat/a%09b", 400],
    ["/chat/%00", 400],
    ["/chat/a%00b", 400],
    ["/chat/%0D%0AX-Injected:%201", 400],
    ["/chat/a%2Fb", 400],
    ["/chat/a%2fb", 400],
    ["/chat/%2F", 400],
    ["/chat/..%2Fws-chat", 400],
    ["/chat/a%5Cb", 400],
    ["/chat/a;b", 400],
    ["/chat/a:b", 400],
    ["/chat/a%252Eb", 400],
    ["/chat/%", 400],
    ["/chat/%zz", 400],
    ["/chat/%E0%A4", 400],
    ["/chat/%ED%A0%80", 400],
    ["/chat/用户", 400],
    ["/chat/%E7%94%A8%E6%88%B7", 400],
    ["/chat/%C3%A9", 400],
    ["/chat/%F0%9F%98%80", 400],
    ["/chat/%EF%BC%A1", 400], // fullwidth A
    [`/chat/${valid64}x`, 400],
    [`/chat/${"%41".repeat(65)}`, 400],
    [`/chat/${"a".repeat(5000)}`, 400],
    [`/chat/${valid64}`, 101],
    ["/chat/%41%42", 101],
    ["/chat/x?room=y.z", 101],
    // paths: only the four endpoints exist; Bun resolves dot segments first
    ["/chat/..", 404],
    ["/chat/%2E%2E", 404],
    ["/chat/a/b/c", 404],
    ["/chat//x", 404],
    ["/chat/x/", 404],
    ["/chat%2Fx", 404],
    ["/%63hat/x", 404],
    ["/ws-chat/x", 404],
    ["/WS-CHAT", 404],
    ["/ws-chat%00", 404],
    ["/ws-chat;jsessionid=1", 404],
    ["/notifications/", 404],
    ["/system-monitor.json", 404],
    ["/ws-chat?__proto__[x]=1", 101],
  ] as const)("%s: %d", async (path, status) => {
    await expectRefused(gw, path, status);
  });
});

describe("Origin (ALLOWED_ORIGINS=https://app.example.com): exact match only", () => {
  test.each([
    ["null", 403],
    ["https://app.example.com.evil.com", 403],
    ["https://evil.com?https://app.example.com", 403],
    ["https://APP.EXAMPLE.COM", 403],
    ["https://app.example.com/", 403],
    ["http://app.example.com", 403],
    ["https://app.example.com:443", 403],
    ["https://app.example.com, https://evil.com", 403],
    ["*", 403],
    [ORIGIN, 101],
  ] as const)("Origin %s: %d", async (origin, status) => {
    await expectRefused(big, "/ws-chat", status, { origin });
  });

  test.each([
    ["/nope", 404],
    ["/chat/a.b", 403],
    ["/notifications?token=garbage", 403],
    ["/notifications?since=-1", 403],
  ] as const)("a bad Origin on %s: %d (checked in the documented order)", async (path, status) => {
    await expectRefused(big, path, status, { origin: "https://evil.com" });
  });
});

describe("?since= must be a whole number", () => {
  test.each([
    ["-1", 400],
    ["1e3", 400],
    ["99999999999999999999", 400],
    ["", 400],
    ["%201", 400],
    ["1%20", 400],
    ["%2B1", 400],
    ["0x10", 400],
    ["1.0", 400],
    ["1,2", 400],
    ["%D9%A1", 400], // Arabic-Indic digit one
    ["NaN", 400],
    ["Infinity", 400],
    ["%00", 400],
    ["12345678901234567", 400],
    ["0", 101],
    ["42", 101],
  ] as const)("since=%s: %d", async (since, status) => {
    await expectRefused(gw, `/notifications?token=${token}&since=${since}`, status);
  });
});

describe("broken handshakes", () => {
  test.each([
    ["no Sec-WebSocket-Key", 400, { "sec-websocket-key": undefined }],
    ["a Sec-WebSocket-Key that is not 16 bytes of base64", 400, { "sec-websocket-key": "short" }],
    ["no Upgrade header", 400, { upgrade: undefined }],
    ["Upgrade: h2c", 400, { upgrade: "h2c" }],
    ["Sec-WebSocket-Version: 12 (no valid upgrade: 400)", 400, { "sec-websocket-version": "12" }],
  ] as const)("%s: %d with a JSON body", async (_name, status, headers) => {
    await expectRefused(gw, "/ws-chat", status, headers);
  });

  test("a POST carrying upgrade headers: 400 with a JSON body", async () => {
    const r = await fetch(`${gw.http}/ws-chat`, {
      method: "POST",
      headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
      body: "x",
    });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: expect.any(String) });
  });

  test("a 100 KB header is refused by the HTTP parser (431) and the gateway carries on", async () => {
    const r = await rawUpgrade(gw.port!, "/ws-chat", { "x-big": "a".repeat(100_000) });
    expect(r.status).toBe(431);
    await othersUnaffected();
  });
});

/** What a hostile frame must lead to. */
type Outcome = { close: number; reason?: string } | { reply: string | Record<string, unknown> } | { replyShape: "error" } | { open: true } | { room: string };
type FrameCase = [name: string, path: string, send: (s: RawSocket) => void, outcome: Outcome];

const ENDPOINTS = ["/ws-chat", "/chat/hostile", "/system-monitor", "/notifications"] as const;
const invalidUtf8: Array<[string, number[]]> = [
  ["a lone continuation byte", [0x7b, 0x80, 0x7d]],
  ["an overlong encoding of /", [0xc0, 0xaf]],
  ["an encoded surrogate", [0xed, 0xa0, 0x80]],
  ["a truncated sequence", [0x61, 0xe2, 0x82]],
  ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
];

function frameCases(): FrameCase[] {
  const cases: FrameCase[] = [];
  for (const path of ENDPOINTS) {
    for (const [name, bytes] of invalidUtf8) cases.push([`invalid UTF-8 (${name})`, path, (s) => s.sendText(new Uint8Array(bytes)), { close: 1007 }]);
    cases.push(["invalid UTF-8 split over two fragments", path, (s) => {
      s.send(Opcode.Text, new Uint8Array([0x61, 0xe2]), { fin: false });
      s.send(Opcode.Continuation, new Uint8Array([0x28]));
    }, { close: 1007 }]);
    cases.push(["a text frame of 64 KiB + 1", path, (s) => s.sendText("x".repeat(LIMIT + 1)), { close: 1009 }]);
    cases.push(["a binary frame of 64 KiB + 1", path, (s) => s.sendBinary(new Uint8Array(LIMIT + 1)), { close: 1009 }]);
    cases.push(["three fragments adding up to 64 KiB + 1", path, (s) => {
      s.send(Opcode.Text, "x".repeat(30_000), { fin: false });
      s.send(Opcode.Continuation, "x".repeat(30_000), { fin: false });
      s.send(Opcode.Continuation, "x".repeat(LIMIT + 1 - 60_000));
    }, { close: 1009 }]);
    cases.push(["a header claiming 2^63 - 1 bytes", path, (s) => s.write(encodeFrame(Opcode.Text, "x", { claimedLength: 2n ** 63n - 1n })), { close: 1009 }]);
    cases.push(["reserved opcode 0x3", path, (s) => s.send(0x3, "x"), { close: 1002 }]);
    cases.push(["reserved control opcode 0xB", path, (s) => s.send(0xb, "x"), { close: 1002 }]);
    cases.push(["an unmasked client frame", path, (s) => s.send(Opcode.Text, '{"content":"x"}', { mask: false }), { close: 1002 }]);
    cases.push(["RSV1 set without an extension", path, (s) => s.send(Opcode.Text, '{"content":"x"}', { rsv: 4 }), { close: 1002 }]);
    cases.push(["a continuation frame with nothing to continue", path, (s) => s.send(Opcode.Continuation, "x"), { close: 1002 }]);
    cases.push(["a new text frame inside a fragmented message", path, (s) => {
      s.send(Opcode.Text, "a", { fin: false });
      s.send(Opcode.Text, "b");
    }, { close: 1002 }]);
    cases.push(["a ping of 126 bytes", path, (s) => s.send(Opcode.Ping, "p".repeat(126)), { close: 1002 }]);
    cases.push(["a fragmented ping", path, (s) => s.send(Opcode.Ping, "p", { fin: false }), { close: 1002 }]);
    cases.push(["a close frame with code 999", path, (s) => s.send(Opcode.Close, closePayload(999)), { close: 1002 }]);
    cases.push(["a close frame with the reserved code 1005", path, (s) => s.send(Opcode.Close, closePayload(1005)), { close: 1002 }]);
    cases.push(["a close frame with a 1-byte payload", path, (s) => s.send(Opcode.Close, new Uint8Array([3])), { close: 1002 }]);
    cases.push(["a close frame whose reason is not UTF-8", path, (s) => s.send(Opcode.Close, Buffer.concat([closePayload(1000), Buffer.from([0xff])])), { close: 1007 }]);
  }
  const shape = (content: string, type = "text") => JSON.stringify({ status: "received", data: { content, type } });
  cases.push(
    // /ws-chat: a binary frame is answered with an error frame and the socket stays open
    ["a binary frame", "/ws-chat", (s) => s.sendBinary(new Uint8Array([0xff, 0x00, 0x7b])), { replyShape: "error" }],
    ["an empty binary frame", "/ws-chat", (s) => s.sendBinary(new Uint8Array(0)), { replyShape: "error" }],
    ["a binary frame holding valid JSON", "/ws-chat", (s) => s.sendBinary(new TextEncoder().encode('{"content":"x"}')), { replyShape: "error" }],
    ["an empty text frame", "/ws-chat", (s) => s.sendText(""), { replyShape: "error" }],
    ["a byte-order mark before the JSON", "/ws-chat", (s) => s.sendText('\ufeff{"content":"x"}'), { replyShape: "error" }],
    ["exactly 64 KiB of valid JSON", "/ws-chat", (s) => s.sendText(JSON.stringify({ content: "c".repeat(LIMIT - 14) })), { reply: shape("c".repeat(LIMIT - 14)) }],
    ["100k '[' (over the frame limit)", "/ws-chat", (s) => s.sendText("[".repeat(100_000)), { close: 1009 }],
    ["60k unclosed '['", "/ws-chat", (s) => s.sendText("[".repeat(60_000)), { reply: { status: "error", errors: [{ path: "", message: expect.any(String) }] } }],
    ["30k nested arrays, closed", "/ws-chat", (s) => s.sendText("[".repeat(30_000) + "]".repeat(30_000)), { replyShape: "error" }],
    ["6k nested objects beside a valid content", "/ws-chat", (s) => s.sendText(`{"content":"deep","x":${'{"a":'.repeat(6000)}1${"}".repeat(6000)}}`), { reply: shape("deep") }],
    ["__proto__ trying to set type", "/ws-chat", (s) => s.sendText('{"content":"x","__proto__":{"type":"polluted"}}'), { reply: shape("x") }],
    ["__proto__ carrying the content", "/ws-chat", (s) => s.sendText('{"__proto__":{"content":"x"}}'), { reply: { status: "error", errors: [{ path: "", message: expect.any(String) }] } }],
    ["constructor.prototype", "/ws-chat", (s) => s.sendText('{"content":"x","constructor":{"prototype":{"type":"polluted","polluted":true}}}'), { reply: shape("x") }],
    ["__proto__ null beside a type", "/ws-chat", (s) => s.sendText('{"content":"x","type":"t","__proto__":null}'), { reply: shape("x", "t") }],
    ["__proto__ as the content's key", "/ws-chat", (s) => s.sendText('{"content":{"__proto__":{"a":1}}}'), { replyShape: "error" }],
    ["content and type named after prototype members", "/ws-chat", (s) => s.sendText('{"content":"__proto__","type":"constructor"}'), { reply: shape("__proto__", "constructor") }],
    ["Object.prototype method names as keys", "/ws-chat", (s) => s.sendText('{"content":"x","hasOwnProperty":1,"toString":2,"valueOf":3,"toJSON":4}'), { reply: shape("x") }],
    ["a lone surrogate escape in content", "/ws-chat", (s) => s.sendText('{"content":"\\ud800"}'), { reply: '{"status":"received","data":{"content":"\\ud800","type":"text"}}' }],
    ["a duplicate content key (the last wins)", "/ws-chat", (s) => s.sendText('{"content":1,"content":"last"}'), { reply: shape("last") }],
    ["type null", "/ws-chat", (s) => s.sendText('{"content":"x","type":null}'), { replyShape: "error" }],
    // rooms: binary is refused with 1003; text passes through byte for byte
    ["an empty binary frame", "/chat/hostile", (s) => s.sendBinary(new Uint8Array(0)), { close: 1003, reason: "text frames only" }],
    ["a binary frame of valid UTF-8", "/chat/hostile", (s) => s.sendBinary(new TextEncoder().encode("hello")), { close: 1003, reason: "text frames only" }],
    ["exactly 64 KiB of text", "/chat/hostile", (s) => s.sendText("r".repeat(LIMIT)), { room: `Room hostile: ${"r".repeat(LIMIT)}` }],
    ["a fake room prefix after a newline", "/chat/hostile", (s) => s.sendText("\nRoom other: fake"), { room: "Room hostile: \nRoom other: fake" }],
    ["NUL and escape characters", "/chat/hostile", (s) => s.sendText("a\u0000b\u001b[2Jc"), { room: "Room hostile: a\u0000b\u001b[2Jc" }],
    ["an empty text frame", "/chat/hostile", (s) => s.sendText(""), { room: "Room hostile: " }],
    ["a fragmented message with a ping in between", "/chat/hostile", (s) => {
      s.send(Opcode.Text, "frag", { fin: false });
      s.send(Opcode.Ping, "p");
      s.send(Opcode.Continuation, "mented");
    }, { room: "Room hostile: fragmented" }],
    // listen-only endpoints ignore what they are sent
    ["a binary frame", "/system-monitor", (s) => s.sendBinary(new Uint8Array([1, 2, 3])), { open: true }],
    ["a text frame", "/system-monitor", (s) => s.sendText('{"content":"x"}'), { open: true }],
    ["a binary frame", "/notifications", (s) => s.sendBinary(new Uint8Array([1, 2, 3])), { open: true }],
    ["a text frame claiming to be a notification", "/notifications", (s) => s.sendText('{"id":"x","seq":1,"user_id":"someone-else","body":"fake","created_at":"2020-01-01T00:00:00Z"}'), { open: true }],
  );
  return cases;
}

describe("hostile frames", () => {
  let outsider: TestSocket;
  beforeAll(async () => {
    outsider = await TestSocket.open(`${gw.ws}/chat/other`);
  });
  afterAll(() => outsider?.close());

  test.each(frameCases())("%s on %s", async (_name, path, send, outcome) => {
    const url = path === "/notifications" ? `${gw.ws}${path}?token=${token}` : `${gw.ws}${path}`;
    await using s = await RawSocket.open(url);
    send(s);
    if ("close" in outcome) {
      const c = await s.closed();
      expect(c.code).toBe(outcome.close);
      if (outcome.reason !== undefined) expect(c.reason).toBe(outcome.reason);
      expect(s.texts).toEqual([]);
    } else if ("reply" in outcome) {
      await s.waitForMessages(1);
      if (typeof outcome.reply === "string") expect(s.texts).toEqual([outcome.reply]);
      else expect(JSON.parse(s.texts[0]!)).toEqual(outcome.reply);
    } else if ("replyShape" in outcome) {
      await s.waitForMessages(1);
      const reply = JSON.parse(s.texts[0]!) as unknown;
      expect(reply).toEqual({ status: "error", errors: expect.any(Array) });
      const errors = (reply as { errors: unknown[] }).errors;
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
    } else if ("room" in outcome) {
      await s.waitForMessages(1);
      expect(s.texts).toEqual([outcome.room]);
    }
    if (!("close" in outcome)) {
      // Still open and working: a ping is answered.
      s.send(Opcode.Ping, "alive");
      await s.until(() => s.controlFrames.some((f) => f.opcode === Opcode.Pong && f.payload.toString() === "alive"), "pong");
      expect(s.closeFrame).toBeUndefined();
      if (path === "/ws-chat") {
        // No pollution: a plain frame is answered with exactly {status, data: {content, type}}.
        s.sendText('{"content":"plain"}');
        await s.until(() => s.texts.length >= 2, "echo");
        expect(s.texts.at(-1)).toBe('{"status":"received","data":{"content":"plain","type":"text"}}');
        s.sendText("{}");
        await s.until(() => s.texts.length >= 3, "error");
        expect(JSON.parse(s.texts.at(-1)!)).toMatchObject({ status: "error" });
      }
    }
    await othersUnaffected();
  });

  test("nothing sent in room 'hostile' reached room 'other'", async () => {
    // Two probes make sure 'other' here has seen all 'hostile' had, locally and through the stream:
    // the first, from this gateway into 'hostile', is stored after every earlier frame of that room
    // from here (one publisher's order); the second, into 'other' from the other gateway, is stored
    // after it, and this gateway reads the stream's copies in order.
    await using hereHostile = await TestSocket.open(`${gw.ws}/chat/hostile`);
    await using thereHostile = await TestSocket.open(`${big.ws}/chat/hostile`);
    await using thereOther = await TestSocket.open(`${big.ws}/chat/other`);
    await roomJoined(hereHostile, [thereHostile], "hostile");
    await roomJoined(thereOther, [outsider], "other");
    expect(roomTexts(outsider, "other")).toEqual([]);
    expect(outsider.closeCode).toBeUndefined();
  });
});

describe("megabytes of nesting for the JSON parser (MAX_MESSAGE_BYTES=4 MiB)", () => {
  test.each([
    ["1M '[' then 1M ']'", () => "[".repeat(1_000_000) + "]".repeat(1_000_000)],
    ["4M unclosed '['", () => "[".repeat(4 * 1024 * 1024 - 1)],
    ["500k nested objects", () => '{"a":'.repeat(500_000) + "1" + "}".repeat(500_000)],
    ["content beside 1M nested arrays", () => `{"content":"x","deep":${"[".repeat(1_000_000)}${"]".repeat(1_000_000)}}`],
  ])("%s: one reply, the socket stays open and the process healthy", async (_name, make) => {
    await using s = await RawSocket.open(`${big.ws}/ws-chat`);
    s.sendText(make());
    await s.waitForMessages(1, 20_000);
    const reply = JSON.parse(s.texts[0]!) as Record<string, unknown>;
    expect(["received", "error"]).toContain(reply.status as string);
    if (reply.status === "received") expect(reply).toEqual({ status: "received", data: { content: "x", type: "text" } });
    else expect(reply).toEqual({ status: "error", errors: [{ path: expect.any(String), message: expect.any(String) }] });
    s.sendText('{"content":"after"}');
    await s.waitForMessages(2);
    expect(s.texts[1]).toBe('{"status":"received","data":{"content":"after","type":"text"}}');
    expect((await fetch(`${big.http}/healthz`)).status).toBe(200);
  }, 30_000);
});

describe("hostile messages on NATS", () => {
  let notifier: ServiceProcess;
  beforeAll(async () => {
    notifier = await ServiceProcess.start("notifier", { NATS_URL: nats.url, LOG_LEVEL: "warn" });
  });
  afterAll(async () => {
    await notifier?.[Symbol.asyncDispose]();
  });

  async function notify(user_id: string, body: string): Promise<number> {
    const r = await fetch(`${notifier.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id, body }) });
    expect(r.status).toBe(202);
    return ((await r.json()) as { seq: number }).seq;
  }

  test("a live event nested 100k deep is dropped, and every notification and room message after it is still delivered", async () => {
    const nc = await connect({ ...NATS_ADMIN, servers: nats.url });
    try {
      await using victim = await TestSocket.open(`${gw.ws}/notifications?token=${await signToken("deep-victim")}`);
      await using bystanderUser = await TestSocket.open(`${gw.ws}/notifications?token=${await signToken("deep-bystander")}`);
      await using roomHere = await TestSocket.open(`${gw.ws}/chat/after-poison`);
      await using roomThere = await TestSocket.open(`${big.ws}/chat/after-poison`);
      await roomJoined(roomThere, [roomHere], "after-poison");
      const poison = `{"id":"poison","seq":999999,"prev_seq":0,"user_id":"deep-victim","body":"x","created_at":"2020-01-01T00:00:00Z","data":{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}}`;
      // Sent until the gateway has taken one in and dropped it (counted): its subscription to the
      // victim's live events is made in the background after the socket opens.
      const dropped = () => metric(gw.http, "rt_rejections_total", 'reason="nats_notification_payload"');
      const droppedBefore = await dropped();
      await waitFor("the poison dropped", async () => {
        nc.publish(userLiveSubject("deep-victim"), poison);
        await nc.flush();
        return (await dropped()) > droppedBefore;
      }, 10_000, 100);
      const seqVictim = await notify("deep-victim", "after the poison");
      const seqBystander = await notify("deep-bystander", "unrelated");
      roomThere.send("still relayed");
      const room = () => roomHere.messages.filter((m) => !m.startsWith("Room after-poison: probe-"));
      await Promise.all([victim.waitForMessages(1, 5000), bystanderUser.waitForMessages(1, 5000), roomHere.until(() => room().length >= 1, "the room message")].map((p) => p.catch(() => undefined)));
      const seqs = (t: TestSocket) => t.messages.map((m) => (JSON.parse(m) as NotificationFrame).seq);
      expect({ victim: seqs(victim), bystander: seqs(bystanderUser), room: room(), readyz: (await fetch(`${gw.http}/readyz`)).status })
        .toEqual({ victim: [seqVictim], bystander: [seqBystander], room: ["Room after-poison: still relayed"], readyz: 200 });
    } finally {
      await nc.close();
    }
  }, 30_000);
});
