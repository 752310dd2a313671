import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  Opcode, Prng, RawSocket, RssSampler, ServiceProcess, TestNats, TestSocket, TEST_JWT_SECRET, closePayload, encodeFrame, signToken,
} from "@rt/testkit";

/**
 * A seeded fuzz run over the four WebSocket endpoints: random text, random JSON, random bytes,
 * binary frames, fragmented messages, sizes around the 64 KiB limit, and a few protocol
 * violations. Every frame has an expected outcome worked out here (the exact echo or an error
 * frame on /ws-chat, the exact room frame on /chat, nothing on the listen-only endpoints, or a
 * close code), and every outcome is checked. Afterwards the gateway must be healthy, still
 * echo on a new socket, and its VmRSS must not have grown by 100 MB.
 *
 * Repeat a run with FUZZ_SEED=<seed> (printed at the start); FUZZ_FRAMES changes the count.
 */

const FRAMES = Number(process.env.FUZZ_FRAMES ?? 20_000);
const LIMIT = 64 * 1024;
const ROOM = "fz";
const seed = Prng.seedFromEnv();
console.log(`gateway fuzz: seed ${seed} (repeat with FUZZ_SEED=${seed}), ${FRAMES} frames`);

type Endpoint = "/ws-chat" | `/chat/${string}` | "/system-monitor" | "/notifications";
const ENDPOINTS: Endpoint[] = ["/ws-chat", `/chat/${ROOM}`, "/system-monitor", "/notifications"];

/** What one frame must lead to on its endpoint. */
type Expect = { kind: "reply"; text: string } | { kind: "error" } | { kind: "none" } | { kind: "close"; code: number };
interface Planned {
  what: string;
  send: (s: RawSocket) => void;
  expect: Expect;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const decode = (b: Uint8Array): string | undefined => {
  try {
    return strictUtf8.decode(b);
  } catch {
    return undefined;
  }
};

/** The /ws-chat answer documented for a text frame (docs/websocket.md). */
function echoOracle(text: string): Expect {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { kind: "error" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { kind: "error" };
  const o = v as Record<string, unknown>;
  const own = (k: string) => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
  const content = own("content");
  const type = own("type");
  if (typeof content !== "string" || (type !== undefined && typeof type !== "string")) return { kind: "error" };
  return { kind: "reply", text: JSON.stringify({ status: "received", data: { content, type: type ?? "text" } }) };
}

/** Expected outcome of a text frame (bytes as they go on the wire) on `endpoint`. */
function textOutcome(endpoint: Endpoint, bytes: Uint8Array): Expect {
  if (bytes.byteLength > LIMIT) return { kind: "close", code: 1009 };
  const text = decode(bytes);
  if (text === undefined) return { kind: "close", code: 1007 };
  if (endpoint === "/ws-chat") return echoOracle(text);
  if (endpoint.startsWith("/chat/")) return { kind: "reply", text: `Room ${ROOM}: ${text}` };
  return { kind: "none" };
}

function binaryOutcome(endpoint: Endpoint, size: number): Expect {
  if (size > LIMIT) return { kind: "close", code: 1009 };
  if (endpoint === "/ws-chat") return { kind: "error" };
  if (endpoint.startsWith("/chat/")) return { kind: "close", code: 1003 };
  return { kind: "none" };
}

const VIOLATIONS: Array<[string, (s: RawSocket) => void, number]> = [
  ["reserved opcode", (s) => s.send(0x3, "x"), 1002],
  ["unmasked frame", (s) => s.send(Opcode.Text, "x", { mask: false }), 1002],
  ["RSV2 set", (s) => s.send(Opcode.Text, "x", { rsv: 2 }), 1002],
  ["lone continuation", (s) => s.send(Opcode.Continuation, "x"), 1002],
  ["ping of 200 bytes", (s) => s.send(Opcode.Ping, "p".repeat(200)), 1002],
  ["close code 1004", (s) => s.send(Opcode.Close, closePayload(1004)), 1002],
  ["length 2^62", (s) => s.write(encodeFrame(Opcode.Binary, "x", { claimedLength: 2n ** 62n })), 1009],
];

/** A chat message padded with content to exactly `size` bytes of JSON. */
function chatOfSize(rng: Prng, size: number): string {
  const type = rng.chance(0.5) ? undefined : rng.string(rng.int(0, 5));
  const shell = JSON.stringify(type === undefined ? { content: "" } : { content: "", type });
  const pad = Math.max(0, size - Buffer.byteLength(shell));
  return JSON.stringify(type === undefined ? { content: "a".repeat(pad) } : { content: "a".repeat(pad), type });
}

function textFrame(endpoint: Endpoint, rng: Prng, text: string, what: string): Planned {
  const bytes = Buffer.from(text, "utf8");
  const fragmented = bytes.length > 2 && rng.chance(0.08);
  return {
    what: fragmented ? `${what} (fragmented)` : what,
    expect: textOutcome(endpoint, bytes),
    send: (s) => {
      if (!fragmented) return void s.sendText(bytes);
      const cut = rng.int(1, bytes.length - 1);
      s.send(Opcode.Text, bytes.subarray(0, cut), { fin: false });
      if (rng.chance(0.5)) s.send(Opcode.Ping, "mid");
      s.send(Opcode.Continuation, bytes.subarray(cut));
    },
  };
}

/** One random frame for `endpoint` and what it must lead to. */
function randomFrame(endpoint: Endpoint, rng: Prng): Planned {
  const k = rng.next();
  if (k < 0.3) {
    const msg: Record<string, unknown> = { content: rng.string(rng.int(0, 80)) };
    if (rng.chance(0.4)) msg.type = rng.string(rng.int(0, 8));
    if (rng.chance(0.2)) msg[rng.pick(["extra", "__proto__", "constructor", "data"])] = rng.json(2);
    return textFrame(endpoint, rng, JSON.stringify(msg), "chat message");
  }
  if (k < 0.45) return textFrame(endpoint, rng, JSON.stringify(rng.json(4)), "random JSON");
  if (k < 0.6) return textFrame(endpoint, rng, rng.string(rng.int(0, 300)), "random text");
  if (k < 0.63) {
    const bytes = rng.bytes(rng.int(1, 64));
    return { what: "random bytes as text", expect: textOutcome(endpoint, bytes), send: (s) => s.sendText(bytes) };
  }
  if (k < 0.73) {
    const bytes = rng.bytes(rng.int(0, 2000));
    return { what: "binary", expect: binaryOutcome(endpoint, bytes.length), send: (s) => s.sendBinary(bytes) };
  }
  if (k < 0.85) {
    const size = LIMIT + rng.int(-64, 64);
    if (rng.chance(0.3)) {
      const bytes = new Uint8Array(size);
      return { what: `binary of ${size}`, expect: binaryOutcome(endpoint, size), send: (s) => s.sendBinary(bytes) };
    }
    return textFrame(endpoint, rng, chatOfSize(rng, size), `text of ${size}`);
  }
  if (k < 0.88) {
    const size = rng.int(LIMIT + 65, 4 * LIMIT);
    return textFrame(endpoint, rng, chatOfSize(rng, size), `text of ${size}`);
  }
  if (k < 0.9) {
    const [name, send, code] = rng.pick(VIOLATIONS);
    return { what: name, expect: { kind: "close", code }, send };
  }
  return textFrame(endpoint, rng, chatOfSize(rng, rng.int(200, 8192)), "medium chat message");
}

let nats: TestNats;
let gw: ServiceProcess;
let token: string;

beforeAll(async () => {
  nats = await TestNats.start();
  gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_SECRET: TEST_JWT_SECRET, RATE_LIMIT_PER_SEC: "0" });
  token = await signToken("fuzz-user");
});
afterAll(async () => {
  await gw?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

const urlFor = (g: ServiceProcess, endpoint: Endpoint) => (endpoint === "/notifications" ? `${g.ws}${endpoint}?token=${token}` : `${g.ws}${endpoint}`);

/** Checks the replies a socket got against the frames it was sent. */
function check(lane: string, plan: Planned[], got: string[]): void {
  const replies = plan.filter((p) => p.expect.kind === "reply" || p.expect.kind === "error");
  if (got.length !== replies.length) throw new Error(`${lane}: expected ${replies.length} replies, got ${got.length} (frames: ${plan.map((p) => p.what).join(", ")})`);
  replies.forEach((p, i) => {
    const e = p.expect;
    const text = got[i]!;
    if (e.kind === "reply" && text !== e.text) throw new Error(`${lane}: ${p.what}: expected ${e.text.slice(0, 200)}, got ${text.slice(0, 200)}`);
    if (e.kind === "error") {
      const v = JSON.parse(text) as { status?: unknown; errors?: Array<{ path: unknown; message: unknown }> };
      const fine = v.status === "error" && Array.isArray(v.errors) && v.errors.length > 0 && v.errors.every((x) => typeof x.path === "string" && typeof x.message === "string") && Object.keys(v).length === 2;
      if (!fine) throw new Error(`${lane}: ${p.what}: expected an error frame, got ${text.slice(0, 200)}`);
    }
  });
}

describe("gateway fuzz", () => {
  test(`${FRAMES} random frames over the four endpoints: every outcome as expected, the gateway healthy and its memory bounded`, async () => {
    const rng = new Prng(seed);
    const witness = await TestSocket.open(`${gw.ws}/chat/${ROOM}`);
    const roomFrames: string[] = [];
    const lanes = new Map<Endpoint, RawSocket>();
    for (const e of ENDPOINTS) lanes.set(e, await RawSocket.open(urlFor(gw, e)));
    // No wait: the witness was a member from the moment it opened (the gateway joins a socket in
    // its open handler, before the 101 reaches the client), before any lane was opened.
    const rss = new RssSampler(gw.proc.pid, 50);
    const counts: Record<string, number> = {};
    let sent = 0;
    let reconnects = 0;
    let syncs = 0;
    const t0 = Date.now();
    while (sent < FRAMES) {
      await Promise.all(ENDPOINTS.map(async (endpoint) => {
        let s = lanes.get(endpoint)!;
        const plan: Planned[] = [];
        for (let i = rng.int(1, 40); i > 0 && sent < FRAMES; i--) {
          const p = randomFrame(endpoint, rng);
          plan.push(p);
          sent++;
          counts[p.expect.kind === "close" ? `close ${p.expect.code}` : p.expect.kind] = (counts[p.expect.kind === "close" ? `close ${p.expect.code}` : p.expect.kind] ?? 0) + 1;
          if (p.expect.kind === "close") break;
        }
        const before = s.texts.length;
        for (const p of plan) p.send(s);
        const last = plan.at(-1)?.expect;
        const nReplies = plan.filter((p) => p.expect.kind === "reply" || p.expect.kind === "error").length;
        if (last?.kind === "close") {
          const c = await s.closed(10_000);
          if (c.code !== last.code) throw new Error(`${endpoint}: ${plan.at(-1)!.what}: expected close ${last.code}, got ${c.code} ${c.reason}`);
          check(endpoint, plan, s.texts.slice(before));
          s.destroy();
          s = await RawSocket.open(urlFor(gw, endpoint));
          lanes.set(endpoint, s);
          reconnects++;
        } else {
          // A ping after the batch: its pong means every frame before it was handled.
          const tag = `sync-${++syncs}`;
          s.send(Opcode.Ping, tag);
          await s.until(() => s.controlFrames.some((f) => f.opcode === Opcode.Pong && f.payload.toString() === tag), `pong ${tag}`, 10_000);
          await s.until(() => s.texts.length >= before + nReplies, `${nReplies} replies`, 10_000);
          if (s.closeFrame) throw new Error(`${endpoint}: closed unexpectedly ${JSON.stringify(s.closeFrame)} after ${plan.map((p) => p.what).join(", ")}`);
          check(endpoint, plan, s.texts.slice(before));
        }
        if (endpoint.startsWith("/chat/")) for (const p of plan) if (p.expect.kind === "reply") roomFrames.push(p.expect.text);
      }));
    }
    const elapsed = Date.now() - t0;

    // The listen-only endpoints never answered; the room witness saw every room frame, in order,
    // and nothing more: a marker sent last on the room lane comes after anything else it had.
    expect(lanes.get("/system-monitor")!.messageCount + lanes.get("/notifications")!.messageCount).toBe(0);
    lanes.get(`/chat/${ROOM}`)!.sendText("fuzz-marker");
    await witness.until(() => witness.messages.at(-1) === `Room ${ROOM}: fuzz-marker`, "the marker", 10_000);
    expect(witness.messages.length).toBe(roomFrames.length + 1);
    expect(witness.messages.slice(0, -1).every((m, i) => m === roomFrames[i])).toBe(true);
    expect(witness.closeCode).toBeUndefined();

    // Healthy, accepting and echoing, memory bounded (sampled through the fuzz and these checks).
    expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.http}/readyz`)).status).toBe(200);
    await using fresh = await TestSocket.open(`${gw.ws}/ws-chat`);
    fresh.send({ content: "after the fuzz" });
    expect(await fresh.nextJson()).toEqual({ status: "received", data: { content: "after the fuzz", type: "text" } });
    const mem = rss.stop();
    console.log(`gateway fuzz: ${sent} frames in ${elapsed} ms, ${reconnects} reconnects, outcomes ${JSON.stringify(counts)}; VmRSS ${(mem.first / 2 ** 20).toFixed(1)} MB -> peak ${(mem.peak / 2 ** 20).toFixed(1)} MB, after ${(mem.last / 2 ** 20).toFixed(1)} MB`);
    expect(mem.last - mem.first).toBeLessThan(100 * 2 ** 20);
    expect(mem.peak - mem.first).toBeLessThan(200 * 2 ** 20);
    for (const s of lanes.values()) s.destroy();
    witness.close();
  }, 60_000);
});

describe("the same fuzz with the rate limit on (50/s, burst 100)", () => {
  test.each(ENDPOINTS)("%s: a fast sender is closed with 1008 'rate limit' after at most the burst, with correct replies until then", async (endpoint) => {
    await using limited = await ServiceProcess.start("gateway", { NATS_URL: nats.url, LOG_LEVEL: "warn", JWT_SECRET: TEST_JWT_SECRET });
    const rng = new Prng(seed ^ endpoint.length);
    await using s = await RawSocket.open(urlFor(limited, endpoint));
    const plan: Planned[] = [];
    while (plan.length < 300) {
      const p = randomFrame(endpoint, rng);
      if (p.expect.kind !== "close") plan.push(p); // only frames that would be accepted without a limit
    }
    const t0 = Date.now();
    for (const p of plan) p.send(s);
    const c = await s.closed(10_000);
    // What the bucket can refill (50 a second) while the gateway reads the frames: at most the time
    // from the first send to the close; 10 when that is under 200 ms, as on an idle machine.
    const refill = Math.max(10, Math.ceil(((Date.now() - t0) / 1000) * 50));
    expect({ code: c.code, reason: c.reason }).toEqual({ code: 1008, reason: "rate limit" });
    if (endpoint === "/system-monitor" || endpoint === "/notifications") {
      expect(s.messageCount).toBe(0);
    } else {
      // Every frame here gets an answer: the first ones, answered exactly, the burst and no more than the refill.
      const replied = s.texts.length;
      expect(replied).toBeGreaterThanOrEqual(100);
      expect(replied).toBeLessThanOrEqual(100 + refill);
      check(endpoint, plan.slice(0, replied), s.texts);
    }
    expect((await fetch(`${limited.http}/healthz`)).status).toBe(200);
  });
});
