// The name space of methods, fuzzed: every table a client or a backend indexes by name (protocol
// methods, server API methods over HTTP and NATS, batch commands, `gateway.api.*` and
// `gateway.control.*`) takes only its own names. The names of Object.prototype, Function.prototype
// and Array.prototype, `__proto__`, `prototype`, names with dots, wildcards, control characters and
// other scripts, and seeded random strings each get "method not found" (104; 404 over HTTP), the
// connection stays open, and the gateways log no error. Repeat a run with FUZZ_SEED=<seed>.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { API_METHODS, GATEWAY_API_QUEUE, REPLY_PREFIX, centrifugo } from "@rt/protocol";
import { NATS_ADMIN, Prng, TestSocket, TestSystem, signToken, waitFor } from "@rt/testkit";

const seed = Prng.seedFromEnv();
console.log(`method names fuzz: seed ${seed} (repeat with FUZZ_SEED=${seed})`);

/** Every name to try: none of them is a method of any table. */
function hostileNames(r: Prng): string[] {
  const names = new Set<string>([
    ...Object.getOwnPropertyNames(Object.prototype),
    ...Object.getOwnPropertyNames(Function.prototype),
    ...Object.getOwnPropertyNames(Array.prototype),
    "__proto__", "prototype", "constructor", "__defineGetter__", "hasOwnProperty",
    "", "a.b", "publish.x", "api.publish", "publish ", " publish", "PUBLISH", "Publish", "pub\u0000lish", "publish\n",
    "*", ">", "publish*", "pub>", "*.*", "..", ".", "публикация", "发布", "😀", "\u2028", "%70ublish", "publish%00",
  ]);
  for (let i = 0; i < 200; i++) names.add(r.string(r.int(1, 24)));
  // Real methods and the command id are not hostile.
  for (const real of [...centrifugo.METHOD_NAMES, ...Object.keys(API_METHODS), "id"]) names.delete(real);
  return [...names];
}

const KEY = "names-key";
let sys: TestSystem;
let nc: NatsConnection;
let names: string[];
beforeAll(async () => {
  names = hostileNames(new Prng(seed));
  sys = await TestSystem.start({ gateways: 2, notifier: true, gatewayEnv: { RATE_LIMIT_PER_SEC: "0" }, notifierEnv: { NOTIFIER_TOKENS: KEY } });
  nc = await connect({ ...NATS_ADMIN, servers: sys.natsUrl });
});
afterAll(async () => {
  await nc?.close();
  await sys?.[Symbol.asyncDispose]();
});

const decode = (m: Msg): unknown => JSON.parse(new TextDecoder().decode(m.data));
/** A name that is one NATS subject token (no dot, wildcard or space): others cannot even be asked. */
const oneToken = (name: string): boolean => /^[^\s.*>]+$/u.test(name);
const notFound = { code: 104, message: "method not found" };

describe("method names from outside are looked up as own names only", () => {
  test("client protocol: every name is 104 on one session, which stays open and serves the next command; RPC names go to backends (108 without one)", async () => {
    await using s = await TestSocket.open(`${sys.gw(0).ws}/connection/websocket`);
    s.send({ id: 1, connect: { token: await signToken("name-fuzzer") } });
    await s.waitForMessages(1);
    const r = new Prng(seed + 1);
    const bodies = ["{}", "null", "[]", '"x"', '{"channel":"chat:a"}', "1"];
    const expected = new Map<number, { name: string; code: number }>();
    let id = 10;
    for (const name of names) {
      expected.set(++id, { name, code: 104 });
      s.send(`{"id":${id},${JSON.stringify(name)}:${r.pick(bodies)}}`);
      // The same names as RPC methods: a subject token when they fit the pattern (no backend: 108), else 107.
      expected.set(++id, { name: `rpc ${name}`, code: /^[A-Za-z0-9_-]{1,64}$/.test(name) ? 108 : 107 });
      s.send({ id, rpc: { method: name, data: {} } });
    }
    s.send({ id: ++id, history: { channel: "chat:names" } });
    const last = id;
    const replies = new Map<number, { error?: { code: number; message: string } }>();
    await waitFor("every reply", () => {
      for (const line of s.messages.splice(0).flatMap((m) => m.split("\n"))) {
        const o = JSON.parse(line) as { id?: number; error?: { code: number; message: string } };
        if (o.id !== undefined && o.id >= 10) replies.set(o.id, o);
      }
      return replies.size === expected.size + 1;
    }, 30_000, 20).catch((err: unknown) => {
      const missing = [...expected].filter(([i]) => !replies.has(i)).slice(0, 5);
      throw new Error(`${String(err)}: ${replies.size} of ${expected.size + 1} replies, closed ${s.closeCode}; missing ${JSON.stringify(missing)}`);
    });
    const wrong = [...expected].filter(([i, e]) => replies.get(i)?.error?.code !== e.code).map(([i, e]) => `${JSON.stringify(e.name)}: expected ${e.code}, got ${JSON.stringify(replies.get(i))}`);
    expect(wrong.slice(0, 10)).toEqual([]);
    expect([...expected].filter(([, e]) => e.code === 104).every(([i]) => replies.get(i)!.error!.message === notFound.message)).toBe(true);
    expect(replies.get(last)!.error).toBeUndefined();
    expect(s.closeCode).toBeUndefined();
  }, 60_000);

  test("server API over HTTP: POST /api/<name> is 404 with error 104", async () => {
    const wrong: string[] = [];
    for (const name of names) {
      const r = await fetch(`${sys.notifier!.http}/api/${encodeURIComponent(name)}`, { method: "POST", headers: { "x-api-key": KEY }, body: "{}" });
      const body = (await r.json()) as { error?: { code: number } };
      // `.` and `..` are dot segments: the URL is normalised to `/api/` or `/` before it is routed.
      const expected = name === "." || name === ".." ? r.status === 404 : r.status === 404 && body.error?.code === 104;
      if (!expected) wrong.push(`${JSON.stringify(name)}: ${r.status} ${JSON.stringify(body)}`);
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  test("server API over NATS: api.<name> answers 104", async () => {
    const asked = names.filter(oneToken);
    expect(asked.length).toBeGreaterThan(100);
    const answers = await Promise.all(asked.map(async (name) => [name, decode(await nc.request(`api.${name}`, "{}", { timeout: 10_000 }))] as const));
    expect(answers.filter(([, a]) => JSON.stringify(a) !== JSON.stringify({ error: { code: 104, message: "not found" } }))).toEqual([]);
  }, 60_000);

  test("batch, over HTTP and NATS: a command named by any of them is 104 in its place, the real one beside it served", async () => {
    // Built by hand: an object literal's `__proto__:` would set the prototype, not a key.
    const body = `{"commands":[${names.map((n) => `{${JSON.stringify(n)}:{}}`).join(",")},{"info":{}}]}`;
    const http = (await (await fetch(`${sys.notifier!.http}/api/batch`, { method: "POST", headers: { "x-api-key": KEY }, body })).json()) as { replies: Array<Record<string, unknown>> };
    const viaNats = decode(await nc.request("api.batch", body, { timeout: 10_000 })) as { replies: Array<Record<string, unknown>> };
    for (const answer of [http, viaNats]) {
      expect(answer.replies).toHaveLength(names.length + 1);
      expect(answer.replies.slice(0, -1).filter((r) => JSON.stringify(r) !== JSON.stringify({ error: { code: 104, message: "not found" } }))).toEqual([]);
      expect((answer.replies.at(-1)!.info as { nodes: unknown[] }).nodes).toHaveLength(2);
    }
  }, 60_000);

  test("gateway.api.<name> answers 104; gateway.control.<name> is dropped while a real operation after it is answered", async () => {
    const asked = names.filter(oneToken);
    // Asked as their callers ask (gateways answer only into those reply prefixes): the notifier for gateway.api, a gateway for gateway.control.
    const asNotifier = await connect({ ...NATS_ADMIN, servers: sys.natsUrl, inboxPrefix: `${REPLY_PREFIX.gatewayApi}names` });
    try {
      const answers = await Promise.all(asked.map(async (name) => decode(await asNotifier.request(`gateway.api.${name}`, "{}", { timeout: 10_000 }))));
      expect(answers.filter((a) => JSON.stringify(a) !== JSON.stringify({ error: { code: 104, message: "method not found" } }))).toEqual([]);
    } finally {
      await asNotifier.close();
    }

    const inbox = `${REPLY_PREFIX.gather}names.${seed}`;
    const got: Msg[] = [];
    nc.subscribe(inbox, { callback: (_err, m) => void got.push(m) });
    await nc.flush();
    for (const name of asked) nc.publish(`gateway.control.${name}`, "{}", { reply: inbox });
    nc.publish("gateway.control.info", "{}", { reply: inbox });
    // Each gateway answers its own `info` after the unknown operations it read first.
    await waitFor("both gateways' info", () => got.length >= 2, 10_000, 20);
    await nc.flush();
    expect(got.map((m) => Object.keys(decode(m) as object).sort())).toEqual([["gateway", "node", "part", "parts"], ["gateway", "node", "part", "parts"]]);
  }, 60_000);

  test("the gateways logged no error for any of it", () => {
    for (const gw of sys.gateways) expect(gw.logs.split("\n").filter((l) => l.includes('"level":50'))).toEqual([]);
  });
});

describe("error codes from a gateway's answer are looked up as own codes only", () => {
  test("a gateway answering codes like `constructor` or not an API answer at all: the notifier answers 100 with its message", async () => {
    await using lone = await TestSystem.start({ gateways: 0, notifier: true });
    const fake = await connect({ ...NATS_ADMIN, servers: lone.natsUrl });
    try {
      const hostile = ['{"error":{"code":"constructor"}}', '{"error":{"code":"__proto__","message":"x"}}', '{"error":{"code":104.5,"message":"x"}}', "null", "[]", '"x"', '{"nothing":1}', '{"error":null}'];
      let next = 0;
      fake.subscribe("gateway.api.*", { queue: GATEWAY_API_QUEUE, callback: (_err, m) => void m.respond(hostile[next++ % hostile.length]!) });
      await fake.flush();
      const answers: unknown[] = [];
      for (let i = 0; i < hostile.length; i++) answers.push(decode(await fake.request("api.info", "{}", { timeout: 10_000 })));
      expect(answers).toEqual(hostile.map(() => ({ error: { code: 100, message: "internal server error" } })));
    } finally {
      await fake.close();
    }
  }, 60_000);
});
