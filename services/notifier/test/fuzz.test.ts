import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { MAX_BODY_BYTES, MAX_REQUEST_BYTES, NOTIFICATIONS_STREAM, NOTIFIER_SEND, USER_ID_PATTERN } from "@rt/protocol";
import { Prng, RssSampler } from "@rt/testkit";
import { MAX_BATCH_REQUEST_BYTES } from "../src/request.ts";
import { Fixture } from "./helpers.ts";

/**
 * A seeded fuzz run of notifier requests over HTTP and NATS: valid requests, requests with one or
 * more wrong fields, bodies around the 64 KiB limit, requests around the 256 KiB limit, garbage
 * text and bytes, wrong tokens and content types. The expected answer of each is worked out here
 * (status, and the JSON pointer of every error) and checked; afterwards the stream holds exactly
 * the accepted notifications, the notifier is healthy and its VmRSS grew by less than 100 MB.
 *
 * Repeat a run with FUZZ_SEED=<seed>; FUZZ_REQUESTS changes the HTTP count (NATS gets a quarter).
 */

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2000);
const TOKEN = "fuzz-token";
const seed = Prng.seedFromEnv();
console.log(`notifier fuzz: seed ${seed} (repeat with FUZZ_SEED=${seed}), ${REQUESTS} HTTP + ${Math.ceil(REQUESTS / 4)} NATS requests`);

let f: Fixture;
beforeAll(async () => {
  f = await Fixture.start({ NOTIFIER_TOKENS: TOKEN, LOG_LEVEL: "warn" });
});
afterAll(async () => {
  await f?.[Symbol.asyncDispose]();
});

/** What a request must get: a status and, for errors, exactly these error paths (a batch: what each item must get). */
interface Expected {
  status: 200 | 202 | 207 | 400 | 401 | 413 | 415;
  paths?: string[];
  items?: Expected[];
  /** A `delivered` flag is in the answer (wait_for_delivery_ms was given). */
  receipt?: boolean;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
/** The bytes as UTF-8 text, or undefined when they are not UTF-8. */
function strictUtf8Or(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** The documented schema (docs/messages.md, NotifyRequest), written out by hand: the paths that are wrong (a missing required property is reported at ""). */
function schemaErrors(v: unknown): string[] {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return [""];
  const o = v as Record<string, unknown>;
  const paths = new Set<string>();
  if (!own(o, "user_id") || !own(o, "body")) paths.add("");
  if (own(o, "user_id") && !(typeof o.user_id === "string" && USER_ID_PATTERN.test(o.user_id))) paths.add("/user_id");
  if (own(o, "body") && typeof o.body !== "string") paths.add("/body");
  if (own(o, "title") && !(typeof o.title === "string" && o.title.length <= 1024)) paths.add("/title");
  if (own(o, "data") && !(typeof o.data === "object" && o.data !== null && !Array.isArray(o.data))) paths.add("/data");
  if (own(o, "idempotency_key") && !(typeof o.idempotency_key === "string" && o.idempotency_key.length >= 1 && o.idempotency_key.length <= 256)) paths.add("/idempotency_key");
  const w = o.wait_for_delivery_ms;
  if (own(o, "wait_for_delivery_ms") && !(typeof w === "number" && Number.isInteger(w) && w >= 0 && w <= 30_000)) paths.add("/wait_for_delivery_ms");
  return [...paths].sort();
}

/** The documented answer (docs/notifier.md) for these request bytes (auth and content type already fine). */
function oracle(bytes: Uint8Array): Expected {
  if (bytes.byteLength > MAX_BATCH_REQUEST_BYTES) return { status: 413, paths: [""] };
  const text = strictUtf8Or(bytes);
  // Over one notification's limit, only a batch (an array) may go on.
  if (bytes.byteLength > MAX_REQUEST_BYTES && !text?.trimStart().startsWith("[")) return { status: 413, paths: [""] };
  let v: unknown;
  try {
    v = JSON.parse(text ?? "\u0000");
  } catch {
    return { status: 400, paths: [""] };
  }
  if (!Array.isArray(v)) return itemOracle(v, "");
  // A batch: 1 to 1000 items, each answered on its own (202 when all are stored, else 207).
  if (v.length === 0 || v.length > 1000) return { status: 400, paths: [""] };
  const items = v.map((item, i) => itemOracle(item, `/${i}`));
  return { status: items.every((x) => x.status === 202) ? 202 : 207, items };
}

/** What one notification must get; error paths are under `prefix` (its place in a batch). */
function itemOracle(v: unknown, prefix: string): Expected {
  const paths = schemaErrors(v);
  if (paths.length > 0) return { status: 400, paths: paths.map((p) => `${prefix}${p}`) };
  const o = v as { body: string; wait_for_delivery_ms?: number };
  if (Buffer.byteLength(o.body, "utf8") > MAX_BODY_BYTES) return { status: 413, paths: [`${prefix}/body`] };
  return { status: 202, receipt: own(o, "wait_for_delivery_ms") };
}

const USERS = ["alice", "bob", "auth0|123", "a.b@example.com", "用户", "*", "x.>", " ", "with space", "$SYS", "a".repeat(256)];

/** One random request body (as bytes). */
function randomRequest(rng: Prng, n: number): Uint8Array {
  const k = rng.next();
  if (k < 0.05) return Buffer.from(rng.string(rng.int(0, 400)), "utf8");
  if (k < 0.08) return rng.bytes(rng.int(0, 400));
  if (k < 0.1) return Buffer.from(JSON.stringify(rng.json(4)), "utf8");
  if (k < 0.14) {
    // A small batch of random requests (those that are JSON at all).
    const items: unknown[] = [];
    for (let i = rng.int(0, 4); i > 0; i--) {
      try {
        items.push(JSON.parse(Buffer.from(randomRequest(rng, n)).toString("utf8")));
      } catch {
        // not JSON: left out
      }
    }
    return Buffer.from(JSON.stringify(items), "utf8");
  }
  const o: Record<string, unknown> = {};
  // user_id
  const u = rng.next();
  if (u < 0.85) o.user_id = `${rng.pick(USERS).slice(0, 240)}${u < 0.5 ? "" : `-${n % 50}`}`;
  else if (u < 0.95) o.user_id = rng.pick<unknown>(["", "u".repeat(257), "a\u0000b", "tab\there", 7, null, ["alice"], { id: 1 }, "\u007f"]);
  // body
  const b = rng.next();
  if (b < 0.7) o.body = rng.string(rng.int(0, 200));
  else if (b < 0.8) o.body = "m".repeat(rng.int(200, 8192));
  else if (b < 0.88) o.body = rng.chance(0.5) ? "x".repeat(MAX_BODY_BYTES + rng.int(-16, 16)) : "é".repeat(MAX_BODY_BYTES / 2 + rng.int(-8, 8));
  else if (b < 0.95) o.body = rng.pick<unknown>([1, null, true, ["x"], { text: "x" }]);
  // optional fields, sometimes wrong
  if (rng.chance(0.3)) o.title = rng.chance(0.85) ? rng.string(rng.int(0, 50)) : rng.pick<unknown>([1, null, "t".repeat(1025), ["t"]]);
  if (rng.chance(0.3)) o.data = rng.chance(0.85) ? { k: rng.json(3), n } : rng.pick<unknown>([[], "d", 1, null, false]);
  if (rng.chance(0.1)) o.idempotency_key = rng.chance(0.7) ? `key-${seed}-${n}` : rng.pick<unknown>(["", "k".repeat(257), 5, null]);
  if (rng.chance(0.05)) o.wait_for_delivery_ms = rng.chance(0.5) ? 0 : rng.pick<unknown>([-1, 1.5, "5", 30_001, null]);
  // defineProperty, so that "__proto__" becomes a key of the JSON rather than the object's prototype.
  if (rng.chance(0.1)) Object.defineProperty(o, rng.pick(["__proto__", "constructor", "extra", "seq", "id"]), { value: rng.json(2), enumerable: true, writable: true, configurable: true });
  let text = JSON.stringify(o);
  if (rng.chance(0.05)) {
    // Pad towards the 256 KiB request limit, either side of it.
    const target = MAX_REQUEST_BYTES + rng.int(-32, 32);
    const shell = JSON.stringify({ ...o, pad: "" });
    text = JSON.stringify({ ...o, pad: "p".repeat(Math.max(0, target - Buffer.byteLength(shell))) });
  }
  if (rng.chance(0.03)) text = text.slice(0, rng.int(0, text.length)); // truncated
  return Buffer.from(text, "utf8");
}

function checkAnswer(what: string, exp: Expected, status: number, body: unknown): void {
  const fail = (why: string) => {
    throw new Error(`${what}: ${why}; expected ${JSON.stringify(exp)}, got ${status} ${JSON.stringify(body).slice(0, 300)}`);
  };
  if (status !== exp.status) fail("wrong status");
  if (exp.items) {
    if (!Array.isArray(body) || body.length !== exp.items.length) fail("not one answer per item");
    exp.items.forEach((item, i) => {
      const { status: s, ...rest } = (body as Array<Record<string, unknown>>)[i]!;
      checkAnswer(`${what} item ${i}`, item, s as number, rest);
    });
    return;
  }
  const o = body as Record<string, unknown>;
  if (exp.status === 202) {
    const keys = Object.keys(o).sort().join(",");
    if (keys !== (exp.receipt ? "delivered,epoch,id,seq" : "epoch,id,seq")) fail("wrong answer keys");
    if (typeof o.id !== "string" || typeof o.epoch !== "string" || !Number.isInteger(o.seq) || (o.seq as number) < 1) fail("wrong answer types");
    return;
  }
  const errors = o.errors as Array<{ path: unknown; message: unknown }> | undefined;
  if (!Array.isArray(errors) || errors.length === 0 || !errors.every((e) => typeof e.path === "string" && typeof e.message === "string")) fail("not an error body");
  if (exp.paths) {
    const got = [...new Set(errors!.map((e) => e.path as string))].sort();
    if (JSON.stringify(got) !== JSON.stringify(exp.paths)) fail(`error paths ${JSON.stringify(got)}`);
  }
}

/** Notifications an answer says were stored: one for a 202, the 202 items of a batch. */
function storedBy(status: number, body: unknown): number {
  if (Array.isArray(body)) return body.filter((x: { status: number }) => x.status === 202).length;
  return status === 202 ? 1 : 0;
}

describe("notifier fuzz", () => {
  test(`${REQUESTS} random HTTP requests and ${Math.ceil(REQUESTS / 4)} NATS requests: every answer as expected, the stream holds exactly the accepted ones, memory bounded`, async () => {
    const rng = new Prng(seed);
    const rss = new RssSampler(f.svc.proc.pid, 50);
    const tally: Record<string, number> = {};
    let stored = 0;
    // Plan everything first, so the run depends on the seed only (not on answer timing).
    const http = Array.from({ length: REQUESTS }, (_, n) => {
      const bytes = randomRequest(rng, n);
      const r = rng.next();
      const auth = r < 0.03 ? rng.pick([undefined, "Bearer wrong", `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) : `Bearer ${TOKEN}`;
      const type = r >= 0.03 && r < 0.06 ? rng.pick([undefined, "text/plain", "application/xml", "application/jsonx"]) : rng.pick(["application/json", "application/json; charset=utf-8"]);
      const exp: Expected = auth !== `Bearer ${TOKEN}` ? { status: 401, paths: [""] } : type === undefined || !type.startsWith("application/json") || type === "application/jsonx" ? { status: 415, paths: [""] } : oracle(bytes);
      return { n, bytes, auth, type, exp };
    });
    const overNats = Array.from({ length: Math.ceil(REQUESTS / 4) }, (_, i) => {
      const bytes = randomRequest(rng, REQUESTS + i);
      return { n: REQUESTS + i, bytes, exp: oracle(bytes) };
    });
    const t0 = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < http.length) {
        const { n, bytes, auth, type, exp } = http[next++]!;
        const headers: Record<string, string> = {};
        if (auth !== undefined) headers.authorization = auth;
        if (type !== undefined) headers["content-type"] = type;
        const res = await fetch(`${f.svc.http}/notifications`, { method: "POST", headers, body: bytes });
        const text = await res.text();
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          throw new Error(`http #${n}: answer ${res.status} is not JSON: ${text.slice(0, 200)}`);
        }
        checkAnswer(`http #${n} (${Buffer.from(bytes).toString("utf8").slice(0, 120)})`, exp, res.status, body);
        tally[`http ${res.status}`] = (tally[`http ${res.status}`] ?? 0) + 1;
        stored += storedBy(res.status, body);
      }
    }));
    next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < overNats.length) {
        const { n, bytes, exp } = overNats[next++]!;
        const answer = (await f.nc.request(NOTIFIER_SEND, bytes, { timeout: 10_000 })).json<unknown>();
        // A batch answers its array (each item with its status); one notification its body, `status` on errors.
        let status: number;
        let rest: unknown;
        if (Array.isArray(answer)) {
          status = answer.every((x: { status: number }) => x.status === 202) ? 202 : 207;
          rest = answer;
        } else {
          const { status: s, ...others } = answer as Record<string, unknown>;
          status = typeof s === "number" ? s : 202;
          rest = others;
        }
        checkAnswer(`nats #${n} (${Buffer.from(bytes).toString("utf8").slice(0, 120)})`, exp, status, rest);
        tally[`nats ${status}`] = (tally[`nats ${status}`] ?? 0) + 1;
        stored += storedBy(status, rest);
      }
    }));
    const elapsed = Date.now() - t0;

    const jsm = await jetstreamManager(f.nc);
    expect((await jsm.streams.info(NOTIFICATIONS_STREAM)).state.messages).toBe(stored);
    expect((await fetch(`${f.svc.http}/healthz`)).status).toBe(200);
    expect((await fetch(`${f.svc.http}/readyz`)).status).toBe(200);
    const after = await fetch(`${f.svc.http}/notifications`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ user_id: "after-fuzz", body: "ok" }) });
    expect(after.status).toBe(202);
    // Memory sampled through the fuzz and the checks after it (one more request answered), not for a fixed while.
    const mem = rss.stop();
    console.log(`notifier fuzz: ${http.length + overNats.length} requests in ${elapsed} ms, answers ${JSON.stringify(tally)}; VmRSS ${(mem.first / 2 ** 20).toFixed(1)} MB -> peak ${(mem.peak / 2 ** 20).toFixed(1)} MB, after ${(mem.last / 2 ** 20).toFixed(1)} MB`);
    expect(mem.last - mem.first).toBeLessThan(100 * 2 ** 20);
  }, 60_000);
});
