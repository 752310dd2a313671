// POST /demo/notify (DEMO_PAGE=1) goes to the notifier's HTTP API at DEMO_NOTIFIER_URL (the
// gateway's NATS user may not send `notifier.send`): here a stand-in notifier records what the
// gateway sends and answers as told.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ServiceProcess, TEST_JWT_SECRET, TestNats, freePort } from "@rt/testkit";
import { notificationsUrl } from "../src/demo/demo-routes.ts";

interface Seen {
  path: string;
  authorization: string | null;
  body: Record<string, unknown>;
}

let nats: TestNats;
let gw: ServiceProcess;
let notifier: ReturnType<typeof Bun.serve>;
const seen: Seen[] = [];
/** What the stand-in notifier answers next: a status and a body (text as is, anything else as JSON). */
let answer: { status: number; body: unknown } = { status: 202, body: {} };

beforeAll(async () => {
  notifier = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req) => {
      seen.push({ path: new URL(req.url).pathname, authorization: req.headers.get("authorization"), body: (await req.json()) as Record<string, unknown> });
      const body = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
      return new Response(body, { status: answer.status, headers: { "content-type": "application/json" } });
    },
  });
  nats = await TestNats.start();
  gw = await ServiceProcess.start("gateway", {
    NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, DEMO_PAGE: "1", LOG_LEVEL: "error",
    DEMO_NOTIFIER_URL: `http://127.0.0.1:${notifier.port}/behind/a/prefix`, DEMO_NOTIFIER_TOKEN: "notifier-token",
  });
});
afterAll(async () => {
  await gw?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
  await notifier?.stop(true);
});

/** A page token for `user` from the gateway's own /demo/token. */
const pageToken = async (user: string) => ((await (await fetch(`${gw.http}/demo/token?user=${user}`)).json()) as { token: string }).token;
const notify = async (token?: string) => fetch(`${gw.http}/demo/notify`, { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} });

describe("POST /demo/notify through the notifier's HTTP API", () => {
  test("sends the bearer's test notification with DEMO_NOTIFIER_TOKEN and answers the notifier's 202 and body", async () => {
    seen.length = 0;
    answer = { status: 202, body: { id: "n1", seq: 7, epoch: "e" } };
    const r = await notify(await pageToken("demo-user"));
    expect(r.status).toBe(202);
    expect(await r.json()).toEqual({ id: "n1", seq: 7, epoch: "e" });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe("/behind/a/prefix/notifications");
    expect(seen[0]!.authorization).toBe("Bearer notifier-token");
    expect(seen[0]!.body).toMatchObject({ user_id: "demo-user", data: { kind: "demo-test" } });
    expect(seen[0]!.body.body).toStartWith("Test notification, sent at ");
  });

  test("401 without a valid page token, and nothing reaches the notifier", async () => {
    seen.length = 0;
    expect((await notify()).status).toBe(401);
    expect((await notify("not-a-token")).status).toBe(401);
    expect(seen).toHaveLength(0);
  });

  test("the notifier refusing the gateway's token is a 502 (a 401 would send the page for a new token of its own)", async () => {
    answer = { status: 401, body: { error: "unauthorized" } };
    const r = await notify(await pageToken("demo-user"));
    expect(r.status).toBe(502);
    expect(((await r.json()) as { error: string }).error).toContain("DEMO_NOTIFIER_TOKEN");
  });

  test("the notifier's own errors pass through (503 while its NATS is out); an answer that is not JSON is a 502", async () => {
    answer = { status: 503, body: { error: "not connected to NATS yet; retry shortly" } };
    const r = await notify(await pageToken("demo-user"));
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ error: "not connected to NATS yet; retry shortly" });
    answer = { status: 200, body: "<html>a proxy's page</html>" };
    expect((await notify(await pageToken("demo-user"))).status).toBe(502);
  });

  test("503 when the notifier cannot be reached", async () => {
    await using other = await ServiceProcess.start("gateway", {
      NATS_URL: nats.url, JWT_SECRET: TEST_JWT_SECRET, DEMO_PAGE: "1", LOG_LEVEL: "error", DEMO_NOTIFIER_URL: `http://127.0.0.1:${await freePort()}`,
    });
    const token = ((await (await fetch(`${other.http}/demo/token?user=u`)).json()) as { token: string }).token;
    const r = await fetch(`${other.http}/demo/notify`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: string }).error).toContain("the notifier did not answer");
  });
});

test("notificationsUrl keeps the base's path, with or without its slash", () => {
  expect(notificationsUrl("http://127.0.0.1:8081")).toBe("http://127.0.0.1:8081/notifications");
  expect(notificationsUrl("https://n.example/api")).toBe("https://n.example/api/notifications");
  expect(notificationsUrl("https://n.example/api/")).toBe("https://n.example/api/notifications");
});
