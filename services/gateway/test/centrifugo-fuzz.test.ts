import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Prng, RssSampler, ServiceProcess, TEST_JWT_SECRET, TestNats, TestSocket, signToken } from "@rt/testkit";
import { parseChannel } from "@rt/protocol";

/**
 * A seeded fuzz run of the client protocol: thousands of random commands (random methods, channel
 * names from every class, random JSON data, hostile nesting) on one connected session, each with an
 * expected outcome worked out here; and malformed frames, each on its own socket, that must close
 * with 3501 exactly. Afterwards the gateway must be healthy and its memory bounded.
 * Repeat with FUZZ_SEED=<seed>; FUZZ_COMMANDS changes the count.
 */
const COMMANDS = Number(process.env.FUZZ_COMMANDS ?? 3000);
const seed = Prng.seedFromEnv();
console.log(`protocol fuzz: seed ${seed} (repeat with FUZZ_SEED=${seed}), ${COMMANDS} commands`);

let nats: TestNats;
let gw: ServiceProcess;
beforeAll(async () => {
  nats = await TestNats.start();
  // No command rate and no room creation rate: one user publishes into dozens of fresh rooms (channel-create.test.ts covers the limit).
  gw = await ServiceProcess.start("gateway", { NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: "error", RATE_LIMIT_PER_SEC: "0", CHANNEL_CREATE_RATE_PER_MIN: "0" });
});
afterAll(async () => {
  await gw?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

const USER = "fuzzer";

function channelName(r: Prng): string {
  switch (r.int(0, 9)) {
    case 0: return `chat:${r.pick(["a", "b", "c", "lobby", "x-y_z"])}`;
    case 1: return `chat:${r.string(r.int(0, 80))}`;
    case 2: return `#${r.pick([USER, "someone", "", "a|b", "用户"])}`;
    case 3: return "system:monitor";
    case 4: return `${r.pick(["system", "news", "", "CHAT", "chat "])}:${r.string(r.int(0, 10))}`;
    case 5: return r.string(r.int(0, 400));
    case 6: return "x".repeat(r.int(250, 600));
    default: return `chat:r${r.int(0, 40)}`;
  }
}

function jsonValue(r: Prng, depth = 0): unknown {
  if (depth > 3) return r.int(0, 100);
  switch (r.int(0, 6)) {
    case 0: return r.int(-1e6, 1e6);
    case 1: return r.string(r.int(0, 30));
    case 2: return r.int(0, 1) === 1;
    case 3: return null;
    case 4: return Array.from({ length: r.int(0, 4) }, () => jsonValue(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(0, 4) }, () => [r.string(r.int(1, 8)), jsonValue(r, depth + 1)]));
  }
}

/** Data nested `n` levels deep (hostile for anything that recurses). */
const deep = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = { d: v };
  return v;
};

type Outcome = { code: number } | { ok: true } | { any: readonly number[] };

/** The expected reply for one command given the session's subscriptions (kept in step here). */
function oracle(method: string, body: Record<string, unknown>, subs: Set<string>): Outcome {
  const channel = body.channel;
  if (method === "rpc") {
    const m = body.method;
    if (typeof m !== "string" && m !== undefined) return { code: 107 };
    return /^[A-Za-z0-9_-]{1,64}$/.test((m as string | undefined) ?? "") ? { code: 108 } : { code: 107 };
  }
  if (typeof channel !== "string" || channel.length > 512) return { code: 107 };
  const ref = parseChannel(channel);
  switch (method) {
    case "subscribe":
      if (ref.kind === "invalid") return { code: 107 };
      if (subs.has(channel)) return { code: 105 };
      if (subs.size >= 128) return { code: 106 };
      if (ref.kind === "unknown") return { code: 102 };
      if (ref.kind === "inbox") return { code: 103 };
      subs.add(channel);
      return { ok: true };
    case "unsubscribe":
      if (channel !== `#${USER}`) subs.delete(channel);
      return { ok: true };
    case "publish":
      if (ref.kind === "invalid") return { code: 107 };
      if (ref.kind === "unknown") return { code: 102 };
      if (ref.kind !== "room" || !subs.has(channel)) return { code: 103 };
      return body.deep ? { code: 107 } : { ok: true };
    case "history":
      if (ref.kind === "invalid") return { code: 107 };
      if (ref.kind === "unknown") return { code: 102 };
      if (ref.kind === "monitor") return { code: 108 };
      if (ref.kind === "inbox" && ref.userId !== USER) return { code: 103 };
      return { any: [0, 100] }; // a result (0), or 100 when the inbox stream does not exist (no notifier here)
    default:
      // presence, presence_stats: rooms only, asked by their subscribers
      if (ref.kind === "invalid") return { code: 107 };
      if (ref.kind === "unknown") return { code: 102 };
      if (ref.kind !== "room") return { code: 108 };
      return subs.has(channel) ? { ok: true } : { code: 103 };
  }
}

describe("client protocol fuzz", () => {
  test(`${COMMANDS} random commands on one session: every reply as expected, the session stays open`, async () => {
    const r = new Prng(seed);
    const rss = new RssSampler(gw.proc.pid, 50);
    await using s = await TestSocket.open(`${gw.ws}/connection/websocket`);
    s.send({ id: 1, connect: { token: await signToken(USER) } });
    await s.waitForMessages(1);
    const subs = new Set<string>([`#${USER}`]);
    const expected = new Map<number, { what: string; outcome: Outcome }>();
    const got = new Map<number, Record<string, unknown>>();
    let read = 0;
    /** Reads the replies that came since the last look; true once every command sent so far has one. */
    const replied = () => {
      for (; read < s.messages.length; read++) {
        for (const line of s.messages[read]!.split("\n")) {
          const o = JSON.parse(line) as Record<string, unknown>;
          if (typeof o.id === "number" && expected.has(o.id)) got.set(o.id, o);
        }
      }
      return got.size >= expected.size;
    };
    const methods = ["subscribe", "subscribe", "publish", "publish", "unsubscribe", "history", "rpc", "presence", "presence_stats"];
    let id = 10;
    for (let i = 0; i < COMMANDS; i++) {
      const method = r.pick(methods);
      const body: Record<string, unknown> = method === "rpc" ? { method: r.pick(["ok", "a.b", "", "x".repeat(70), "nobody", 42]), data: jsonValue(r) } : { channel: r.int(0, 20) === 0 ? r.int(0, 9) : channelName(r) };
      if (method === "publish") body.data = r.int(0, 15) === 0 ? deep(r.int(65, 5000)) : jsonValue(r);
      if (method === "history") Object.assign(body, { limit: r.int(-1, 5), reverse: r.int(0, 1) === 1 });
      const outcome = oracle(method, { ...body, deep: method === "publish" && JSON.stringify(body.data ?? null).split("{").length > 65 }, subs);
      expected.set(id, { what: `${method} ${JSON.stringify(body).slice(0, 120)}`, outcome });
      s.send({ id, [method]: body });
      id++;
      // Every 200 commands, wait until at most 200 are unanswered (a pace set by the gateway).
      if (i % 200 === 199) await s.until(() => {
        replied();
        return got.size >= expected.size - 200;
      }, "the replies but the last 200", 30_000).catch(() => undefined);
    }
    await s.until(replied, "every reply", 30_000).catch(() => undefined); // the check below lists what is missing
    const wrong: string[] = [];
    for (const [cid, { what, outcome }] of expected) {
      const reply = got.get(cid);
      const code = (reply?.error as { code: number } | undefined)?.code ?? (reply ? 0 : -1);
      const ok = "ok" in outcome ? code === 0 : "code" in outcome ? code === outcome.code : outcome.any.includes(code);
      if (!ok) wrong.push(`${what}: expected ${JSON.stringify(outcome)}, got ${code}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(s.closeCode).toBeUndefined();
    expect((await fetch(`${gw.http}/readyz`)).status).toBe(200);
    const mem = rss.stop();
    expect(mem.peakGrowth).toBeLessThan(150 * 1024 * 1024);
  }, 60_000);

  test("malformed frames, each on its own socket: close 3501, never a crash", async () => {
    const r = new Prng(seed + 1);
    const frames: Array<string | Uint8Array> = [
      "", " ", "\n\n", "null", "[]", "1", "\"str\"", "{", "}", "{\"id\":-1,\"connect\":{}}", "{\"id\":1.5,\"connect\":{}}",
      "{\"id\":1,\"connect\":{},\"subscribe\":{}}", "{\"id\":1,\"connect\":{\"token\":42}}", "{\"id\":1,\"connect\":{\"subs\":[]}}",
      "{\"subscribe\":{\"channel\":\"chat:x\"}}", `{"id":1,"connect":{"token":${'{"d":'.repeat(10_000)}1${"}".repeat(10_000)}}}`, "{}\n{\"id\":2,\"publish\":{}}",
      new Uint8Array([0, 1, 2]), new Uint8Array(0),
    ];
    for (let i = 0; i < 30; i++) frames.push(r.string(r.int(1, 200)).replace(/^\s*\{/, "x"));
    for (const f of frames) {
      await using s = await TestSocket.open(`${gw.ws}/connection/websocket`);
      s.send(f);
      const code = await s.closed();
      expect({ frame: typeof f === "string" ? f.slice(0, 60) : "<binary>", code }).toEqual({ frame: typeof f === "string" ? f.slice(0, 60) : "<binary>", code: 3501 });
    }
    expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
  }, 60_000);
});
