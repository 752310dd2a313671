// `/emulation` on two gateway-like nodes (a NatsBroker as the gateway's NATS user, an
// EmulationRouter, a Bun.serve) on a real nats-server running the shipped deploy/nats/auth.conf:
// delivered here or through the other gateway, refused for unknown, guessed or client ids,
// bad bodies answered with 4xx JSON, a session's requests one at a time in order.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import protobuf from "protobufjs";
import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { INBOX_PREFIX, centrifugo, gatewayEmulationSubject } from "@rt/protocol";
import { Metrics, ReplyGuard, createLogger } from "@rt/runtime";
import { NATS_ADMIN, TestNats, natsAs, waitFor } from "@rt/testkit";
import { NatsBroker } from "../../src/broker/nats-broker.ts";
import type { EncodingName } from "../../src/protocols/centrifugo/push.ts";
import { EmulationRouter, type EmulatedSession } from "../../src/transports/emulation.ts";
import { SessionSecrets } from "../../src/transports/session-secrets.ts";

const MAX_BODY = 64 * 1024;
const EmulationRequestPb = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root.lookupType("rt.centrifugo.EmulationRequest");

/** A session that records what it took; its deliveries can be held (a gate) or slowed, and counted while they run. */
class FakeSession implements EmulatedSession {
  readonly got: Array<string | Uint8Array> = [];
  readonly clientId = crypto.randomUUID();
  running = 0;
  maxRunning = 0;
  calls = 0;
  gone = false;
  hold: Promise<void> | undefined;
  slow: (() => Promise<void>) | undefined;
  constructor(readonly encoding: EncodingName = "json") {}
  async deliver(data: string | Uint8Array): Promise<boolean> {
    this.calls++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      if (this.hold) await this.hold;
      if (this.slow) await this.slow();
      if (this.gone) return false;
      this.got.push(data);
      return true;
    } finally {
      this.running--;
    }
  }
}

/** One gateway-like node: its broker (as the gateway user), sessions, router and HTTP server. */
interface Node {
  id: string;
  broker: NatsBroker;
  sessions: SessionSecrets<EmulatedSession>;
  router: EmulationRouter;
  metrics: Metrics;
  rejected: string[];
  url: string;
  server: ReturnType<typeof Bun.serve>;
}

let nats: TestNats;
let admin: NatsConnection;
let a: Node;
let b: Node;

async function startNode(opts: { maxPending?: number; timeoutMs?: number } = {}): Promise<Node> {
  const id = randomBytes(9).toString("base64url");
  const log = createLogger("test", "silent");
  const broker = new NatsBroker(log, INBOX_PREFIX.gateway);
  await broker.connect({ ...natsAs("gateway"), servers: [nats.url], name: `emulation-${id}`, noEcho: true });
  const metrics = new Metrics();
  const replies = new ReplyGuard(metrics, log, ["gateway.emulation"]);
  const sessions = new SessionSecrets<EmulatedSession>();
  const rejected: string[] = [];
  const router = new EmulationRouter({
    gatewayId: id, broker, sessions, replies, log, admission: { allowedOrigins: new Set(["https://app.example.com"]) }, maxBodyBytes: MAX_BODY,
    maxPendingPerSession: opts.maxPending, timeoutMs: opts.timeoutMs, rejected: (r) => rejected.push(r),
  });
  router.start();
  await broker.flush();
  const server = Bun.serve({ port: 0, fetch: (req) => router.handle(req) });
  return { id, broker, sessions, router, metrics, rejected, url: `http://127.0.0.1:${server.port}/emulation`, server };
}

async function stopNode(n: Node | undefined): Promise<void> {
  if (!n) return;
  n.router.stop();
  n.server.stop(true);
  await n.broker.close();
}

beforeAll(async () => {
  nats = await TestNats.start({ jetstream: false });
  admin = await connect({ ...NATS_ADMIN, servers: nats.url });
  a = await startNode();
  b = await startNode();
});
afterAll(async () => {
  await stopNode(a);
  await stopNode(b);
  await admin?.close();
  await nats?.[Symbol.asyncDispose]();
});

/** POST /emulation as centrifuge-js does for a JSON client. */
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

/** A session registered on `n`, with its secret. */
function sessionOn(n: Node, encoding: EncodingName = "json"): { s: FakeSession; secret: string } {
  const s = new FakeSession(encoding);
  return { s, secret: n.sessions.issue(s) };
}

const cmd = (id: number) => JSON.stringify({ id, subscribe: { channel: `chat:c${id}` } });

describe("delivered to the session", () => {
  test("here: 204 once the session took the commands, exactly as sent", async () => {
    const { s, secret } = sessionOn(a);
    const data = `${cmd(2)}\n${cmd(3)}`;
    const res = await post(a.url, { node: a.id, session: secret, data });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(s.got).toEqual([data]);
  });

  test("through the other gateway over NATS (a load balancer that is not sticky): the same", async () => {
    const { s, secret } = sessionOn(a);
    const res = await post(b.url, { node: a.id, session: secret, data: cmd(2) });
    expect(res.status).toBe(204);
    expect(s.got).toEqual([cmd(2)]);
  });

  test("the answer waits until the session took the commands (here and through the other gateway)", async () => {
    for (const via of [a, b]) {
      const { s, secret } = sessionOn(a);
      const gate = Promise.withResolvers<void>();
      s.hold = gate.promise;
      let answered = false;
      const pending = post(via.url, { node: a.id, session: secret, data: cmd(2) }).then((r) => {
        answered = true;
        return r;
      });
      await waitFor("the session was handed the commands", () => s.calls === 1);
      // Positive control: another request through the same path completes meanwhile.
      const other = sessionOn(a);
      expect((await post(via.url, { node: a.id, session: other.secret, data: cmd(9) })).status).toBe(204);
      expect(answered).toBe(false);
      gate.resolve();
      expect((await pending).status).toBe(204);
      expect(s.got).toEqual([cmd(2)]);
    }
  });

  test("Protobuf: an EmulationRequest body (application/octet-stream) hands the session the command bytes, here and through the other gateway", async () => {
    const { s, secret } = sessionOn(a, "protobuf");
    const commands = new Uint8Array([0x05, 0x08, 0x02, 0x2a, 0x01, 0x0a]); // any bytes: the session's codec reads them
    for (const via of [a, b]) {
      const body = EmulationRequestPb.encode({ node: a.id, session: secret, data: commands }).finish();
      const res = await fetch(via.url, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body });
      expect(res.status).toBe(204);
    }
    expect(s.got.map((d) => [...(d as Uint8Array)])).toEqual([[...commands], [...commands]]);
  });
});

describe("refused: only a session's own secret works", () => {
  test("an unknown session: 404 {error}, here and through the other gateway", async () => {
    for (const via of [a, b]) {
      const res = await post(via.url, { node: a.id, session: randomBytes(32).toString("base64url"), data: cmd(2) });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "session not found" });
    }
  });

  test("a session's client id (what presence and the server API show) is not its session", async () => {
    const { s, secret } = sessionOn(a);
    for (const via of [a, b]) {
      const res = await post(via.url, { node: a.id, session: s.clientId, data: cmd(2) });
      expect(res.status).toBe(404);
    }
    expect(s.calls).toBe(0);
    expect((await post(b.url, { node: a.id, session: secret, data: cmd(3) })).status).toBe(204); // the secret does work
    expect(s.got).toEqual([cmd(3)]);
  });

  test("guessed secrets (random, of the right form, or one character off) reach no session", async () => {
    const { s, secret } = sessionOn(a);
    const guesses = [
      ...Array.from({ length: 100 }, () => randomBytes(32).toString("base64url")),
      `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`,
      secret.slice(0, -1),
      `${secret}A`,
      secret.toUpperCase() === secret ? secret.toLowerCase() : secret.toUpperCase(),
    ];
    const answers = await Promise.all(guesses.map((g, i) => post(i % 2 ? a.url : b.url, { node: a.id, session: g, data: cmd(2) }).then((r) => r.status)));
    expect(new Set(answers)).toEqual(new Set([404]));
    expect(s.calls).toBe(0);
  });

  test("a gateway that is not there (stopped, or never was): 404 at once, no timeout", async () => {
    const gone = await startNode();
    const { secret } = sessionOn(gone);
    await stopNode(gone);
    const t0 = performance.now();
    const res = await post(b.url, { node: gone.id, session: secret, data: cmd(2) });
    expect(res.status).toBe(404);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("a session that closed while its request waited: 404", async () => {
    const { s, secret } = sessionOn(a);
    s.gone = true;
    expect((await post(b.url, { node: a.id, session: secret, data: cmd(2) })).status).toBe(404);
    a.sessions.revoke(secret);
    expect((await post(a.url, { node: a.id, session: secret, data: cmd(2) })).status).toBe(404);
  });

  test("a request in the other encoding than its session's: 400", async () => {
    const { s, secret } = sessionOn(a, "protobuf");
    for (const via of [a, b]) {
      const res = await post(via.url, { node: a.id, session: secret, data: cmd(2) });
      expect(res.status).toBe(400);
      expect((await res.json()) as object).toHaveProperty("error");
    }
    expect(s.calls).toBe(0);
  });
});

describe("bad requests: 4xx with a JSON error, nothing delivered", () => {
  const cases: Array<[string, () => Promise<Response>, number]> = [
    ["not JSON", () => post(a.url, "{nope"), 400],
    ["not UTF-8", () => fetch(a.url, { method: "POST", headers: { "Content-Type": "application/json" }, body: new Uint8Array([0x7b, 0xff, 0x7d]) }), 400],
    ["an array", () => post(a.url, [1]), 400],
    ["node missing", () => post(a.url, { session: "x".repeat(43), data: cmd(2) }), 400],
    ["data not a string (commands as an object)", () => post(a.url, { node: "gw", session: "x".repeat(43), data: { id: 2 } }), 400],
    ["data empty", () => post(a.url, { node: "gw", session: "x".repeat(43), data: "  " }), 400],
    ["a node that would change a subject (a.b)", () => post(a.url, { node: "a.b", session: "x".repeat(43), data: cmd(2) }), 400],
    ["a node with a wildcard", () => post(a.url, { node: "*", session: "x".repeat(43), data: cmd(2) }), 400],
    ["a session too short to be one", () => post(a.url, { node: "gw", session: "abc", data: cmd(2) }), 400],
    ["a session too long", () => post(a.url, { node: "gw", session: "x".repeat(200), data: cmd(2) }), 400],
    ["a Protobuf body that is not an EmulationRequest", () => fetch(a.url, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: new Uint8Array([0xff, 0xff, 0xff]) }), 400],
    ["a body over the limit (Content-Length)", () => post(a.url, { node: "gw", session: "x".repeat(43), data: "x".repeat(MAX_BODY) }), 413],
    [
      "a body over the limit without Content-Length (streamed)",
      () =>
        fetch(a.url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: new ReadableStream({
            start(c) {
              for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(8 * 1024).fill(0x20));
              c.close();
            },
          }),
        }),
      413,
    ],
    ["GET", () => fetch(a.url), 405],
    ["an Origin not allowed", () => post(a.url, { node: "gw", session: "x".repeat(43), data: cmd(2) }, { Origin: "https://evil.example.com" }), 403],
  ];
  test.each(cases)("%s", async (_name, send, status) => {
    const res = await send();
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error?: unknown };
    expect(typeof body.error).toBe("string");
  });

  test("a browser's preflight from an allowed origin gets CORS (its own origin back, with credentials); the POST too", async () => {
    const pre = await fetch(a.url, { method: "OPTIONS", headers: { Origin: "https://app.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(pre.headers.get("access-control-allow-credentials")).toBe("true");
    expect(pre.headers.get("access-control-allow-methods")).toBe("POST");
    expect(pre.headers.get("access-control-allow-headers")).toBe("Content-Type");
    const { secret } = sessionOn(a);
    const res = await post(a.url, { node: a.id, session: secret, data: cmd(2) }, { Origin: "https://app.example.com" });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    const evil = await fetch(a.url, { method: "OPTIONS", headers: { Origin: "https://evil.example.com" } });
    expect(evil.status).toBe(403);
  });
});

describe("a session's requests, one at a time and in order", () => {
  test("requests sent one after another, alternating gateways, arrive in the order sent", async () => {
    const { s, secret } = sessionOn(a);
    for (let i = 1; i <= 40; i++) expect((await post(i % 2 ? b.url : a.url, { node: a.id, session: secret, data: cmd(i) })).status).toBe(204);
    expect(s.got).toEqual(Array.from({ length: 40 }, (_, i) => cmd(i + 1)));
  });

  test("concurrent requests (both gateways, a session slow to take them): never two at once, each exactly once", async () => {
    const { s, secret } = sessionOn(a);
    s.slow = () => Bun.sleep(Math.random() * 3);
    const n = 60;
    const statuses = await Promise.all(Array.from({ length: n }, (_, i) => post(i % 3 ? b.url : a.url, { node: a.id, session: secret, data: cmd(i) }).then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([204]));
    expect(s.maxRunning).toBe(1);
    expect([...s.got].sort()).toEqual(Array.from({ length: n }, (_, i) => cmd(i)).sort());
  });

  test("what one gateway forwards keeps its order: requests queued behind a held one are taken in the order the gateway received them", async () => {
    const { s, secret } = sessionOn(a);
    const gate = Promise.withResolvers<void>();
    s.hold = gate.promise;
    const first = post(b.url, { node: a.id, session: secret, data: cmd(0) });
    await waitFor("the first is with the session", () => s.calls === 1);
    s.hold = undefined;
    // Each of these is received by b before the next is sent (its answer waits behind the held one).
    const rest: Array<Promise<Response>> = [];
    for (let i = 1; i <= 10; i++) {
      rest.push(post(b.url, { node: a.id, session: secret, data: cmd(i) }));
      await waitFor(`request ${i} in a's line`, () => a.router.busySessions === 1 && pendingOf(a) >= i + 1);
    }
    gate.resolve();
    for (const r of await Promise.all([first, ...rest])) expect(r.status).toBe(204);
    expect(s.got).toEqual(Array.from({ length: 11 }, (_, i) => cmd(i)));
  });

  test("too many waiting for one session: 429 for the one over, the others delivered", async () => {
    const n = await startNode({ maxPending: 3 });
    try {
      const { s, secret } = sessionOn(n);
      const gate = Promise.withResolvers<void>();
      s.hold = gate.promise;
      const held = [1, 2, 3].map((i) => post(n.url, { node: n.id, session: secret, data: cmd(i) }));
      await waitFor("three waiting", () => pendingOf(n) === 3);
      const over = await post(n.url, { node: n.id, session: secret, data: cmd(4) });
      expect(over.status).toBe(429);
      gate.resolve();
      for (const r of await Promise.all(held)) expect(r.status).toBe(204);
      expect(s.got).toEqual([cmd(1), cmd(2), cmd(3)]);
    } finally {
      await stopNode(n);
    }
  });
});

/** Requests waiting for or running in their session on `n`. */
const pendingOf = (n: Node): number => n.router.pendingRequests;

describe("NATS: the subject is the gateways' own", () => {
  const refused = async (responder: string, m: Metrics) =>
    (await m.registry.getSingleMetric("rt_reply_refused_total")!.get()).values.find((v) => v.labels.responder === responder)?.value ?? 0;

  test("a forwarded request whose reply subject is not a gateway's emulation inbox is dropped unanswered and counted", async () => {
    const { s, secret } = sessionOn(a);
    const payload = JSON.stringify({ session: secret, encoding: "json", data: cmd(2) });
    admin.publish(gatewayEmulationSubject(a.id), payload, { reply: "chat.room.lobby" });
    admin.publish(gatewayEmulationSubject(a.id), payload, { reply: "_INBOX_gateway.gather.x.1" });
    await admin.flush();
    await waitFor("both refused", async () => (await refused("gateway.emulation", a.metrics)) === 2);
    // Positive control: a request with a proper reply subject, sent after them, is delivered (so they were not just slow).
    expect((await post(b.url, { node: a.id, session: secret, data: cmd(3) })).status).toBe(204);
    expect(s.got).toEqual([cmd(3)]);
  });

  test("a forwarded request that is not an EmulationForward is answered bad_request and counted", async () => {
    const reply = `_INBOX_gateway.emu.test.${Date.now()}`;
    const sub = admin.subscribe(reply, { max: 1 });
    admin.publish(gatewayEmulationSubject(a.id), JSON.stringify({ session: "x".repeat(43), encoding: "xml", data: "" }), { reply });
    for await (const m of sub) expect(m.json()).toEqual({ outcome: "bad_request" });
    expect(a.rejected).toContain("nats_emulation_payload");
  });

  test("a backend (and so a browser's RPC handler) can neither send on it nor read it", async () => {
    const nc = await connect({ ...natsAs("backend"), servers: nats.url });
    try {
      const violations: string[] = [];
      void (async () => {
        for await (const st of nc.status()) if (st.type === "error" && st.error instanceof errors.PermissionViolationError) violations.push(`${st.error.operation} ${st.error.subject}`);
      })();
      const { s, secret } = sessionOn(a);
      nc.publish(gatewayEmulationSubject(a.id), JSON.stringify({ session: secret, encoding: "json", data: cmd(2) }), { reply: "_INBOX_gateway.emu.x.1" });
      const sub = nc.subscribe("gateway.emulation.*");
      const ended = (async () => {
        try {
          for await (const _ of sub) void _;
          return "ended";
        } catch (err) {
          return err instanceof errors.PermissionViolationError ? "refused" : String(err);
        }
      })();
      await nc.flush().catch(() => undefined);
      expect(await ended).toBe("refused");
      await waitFor("publish refused", () => violations.some((v) => v.startsWith("publish gateway.emulation.")));
      // Positive control: a gateway's own request after it is delivered, and the backend's never was.
      expect((await post(b.url, { node: a.id, session: secret, data: cmd(3) })).status).toBe(204);
      expect(s.got).toEqual([cmd(3)]);
    } finally {
      await nc.close();
    }
  });
});
