// The demo page (DEMO_PAGE=1) in Debian's Chromium driven by playwright-core: one gateway, the notifier,
// the metrics service and a real nats-server; other clients are the centrifuge SDK and /chat/ sockets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { SdkClient, TestSocket, TestSystem, freePort, signToken, waitFor } from "@rt/testkit";
import { launchChromium, openPage, type WatchedPage } from "@rt/testkit/browser";

let sys: TestSystem;
let browser: Browser;
const pages: WatchedPage[] = [];
beforeAll(async () => {
  // The page's test button goes through the notifier's HTTP API (DEMO_NOTIFIER_URL), so the notifier gets a known port.
  const notifierPort = await freePort();
  [sys, browser] = await Promise.all([
    TestSystem.start({
      gateways: 1, notifier: true, metrics: true,
      notifierEnv: { PORT: String(notifierPort) },
      gatewayEnv: { DEMO_PAGE: "1", DEMO_NOTIFIER_URL: `http://127.0.0.1:${notifierPort}` },
      metricsEnv: { INTERVAL_MS: "250" },
    }),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await sys?.[Symbol.asyncDispose]();
});

/** The demo page for `user` in `room`, connected. */
async function demo(user: string, room: string): Promise<WatchedPage> {
  const w = await openPage(browser, `${sys.gw(0).http}/?user=${encodeURIComponent(user)}&room=${encodeURIComponent(room)}`);
  pages.push(w);
  await connected(w.page);
  return w;
}
const connected = (page: Page) => page.getByTestId("connection-state").filter({ hasText: /^connected$/ }).waitFor({ timeout: 10_000 });
const text = (page: Page, id: string) => page.getByTestId(id).innerText();
const sdk = async (user: string) => {
  const c = SdkClient.create(`${sys.gw(0).ws}/connection/websocket`, { token: await signToken(user) });
  await c.connect();
  return c;
};
async function notify(user_id: string, body: string): Promise<void> {
  const r = await fetch(`${sys.notifier!.http}/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user_id, body }) });
  expect(r.status).toBe(202);
}
/** Waits until the element's text contains `needle`. */
const shows = (page: Page, id: string, needle: string, timeout = 10_000) => page.getByTestId(id).filter({ hasText: needle }).waitFor({ timeout });
/** The author shown for the chat log's message `text` (undefined while there is none). */
const authorIn = (page: Page, text: string) =>
  page.getByTestId("chat-log").locator("li").evaluateAll((rows, t) => rows.find((li) => li.children[1]?.textContent === t)?.querySelector(".author")?.textContent ?? undefined, text);
/** Waits until the element's text no longer contains `needle`. */
const stopsShowing = (page: Page, id: string, needle: string) => waitFor(`#${id} without ${needle}`, async () => !(await text(page, id)).includes(needle));

describe("the demo page in Chromium", () => {
  test("loads with no uncaught errors and no console errors, connects over one socket, and serves its bundle from the gateway", async () => {
    const { page, errors, consoleErrors } = await demo("loader", "load-room");
    for (const id of ["chat-input", "chat-log", "presence", "monitor-chart", "inbox"]) expect(await page.getByTestId(id).count()).toBe(1);
    await shows(page, "presence", "loader"); // itself, from presence once subscribed (after the connect: the SDK with a transport list sends the subscribe on its own)
    const sockets = await page.evaluate(() => (globalThis as unknown as { centrifuge: { state: string } }).centrifuge.state);
    expect(sockets).toBe("connected");
    // A round trip on the page's own connection after everything it asked at load (the inbox, the
    // monitor, the room's subscribe, history and presence): the gateway answers one connection's
    // commands in order, so their replies, and any error they caused, came before this one.
    await page.evaluate(() => (globalThis as unknown as { centrifuge: { presenceStats(ch: string): Promise<unknown> } }).centrifuge.presenceStats("chat:load-room"));
    expect(errors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  test("a message typed in the page (Enter) reaches an SDK subscriber and a /chat/ socket of the same room", async () => {
    const { page } = await demo("typist", "typed-room");
    await using other = await sdk("reader");
    await other.subscribe("chat:typed-room");
    await using legacy = await TestSocket.open(`${sys.gw(0).ws}/chat/typed-room`);
    await shows(page, "presence", "guest (/chat/)"); // the /chat/ socket is a member too: the room is joined everywhere
    await page.getByTestId("chat-input").fill("hello from chromium");
    await page.getByTestId("chat-input").press("Enter");
    await other.waitFor("chat:typed-room", 1);
    const pub = other.publications.find((p) => p.channel === "chat:typed-room")!;
    expect(pub.data).toEqual({ text: "hello from chromium" });
    expect(pub.info?.user).toBe("typist");
    await waitFor("the /chat/ socket has it", () => legacy.messages.includes("Room typed-room: hello from chromium"));
    expect(await page.getByTestId("chat-input").inputValue()).toBe(""); // cleared once sent
    await shows(page, "chat-log", "hello from chromium"); // its own message comes back once, from the room
  });

  test("the room's history shows on open; messages from an SDK client and a /chat/ socket appear; presence follows joins and leaves", async () => {
    const early = await sdk("early-bird");
    const sub = await early.subscribe("chat:busy-room");
    for (const t of ["one", "two", "three"]) await sub.publish({ text: `before-${t}` });
    const { page } = await demo("watcher", "busy-room");
    await shows(page, "chat-log", "before-three");
    const log = await text(page, "chat-log");
    expect(log.indexOf("before-one")).toBeLessThan(log.indexOf("before-two"));
    expect(log.indexOf("before-two")).toBeLessThan(log.indexOf("before-three"));

    await using bob = await sdk("bob-the-sdk");
    const bobSub = await bob.subscribe("chat:busy-room");
    await shows(page, "presence", "bob-the-sdk");
    await bobSub.publish({ text: "hi from bob" });
    await shows(page, "chat-log", "hi from bob");
    await using legacy = await TestSocket.open(`${sys.gw(0).ws}/chat/busy-room`);
    await shows(page, "presence", "guest (/chat/)");
    legacy.send("hi from /chat/");
    await shows(page, "chat-log", "hi from /chat/");
    expect(await authorIn(page, "hi from /chat/")).toBe("guest (/chat/)");
    expect(await authorIn(page, "hi from bob")).toBe("bob-the-sdk");
    // The server API's publication carries no client: the server's.
    const api = await fetch(`${sys.notifier!.http}/api/publish`, { method: "POST", body: JSON.stringify({ channel: "chat:busy-room", data: { text: "from the server API" } }) });
    expect(await api.json()).toMatchObject({ result: { offset: expect.any(Number) } });
    await shows(page, "chat-log", "from the server API");
    expect(await authorIn(page, "from the server API")).toBe("server");

    bobSub.unsubscribe();
    await stopsShowing(page, "presence", "bob-the-sdk");
    await shows(page, "chat-log", "bob-the-sdk left");
    await early[Symbol.asyncDispose]();
  });

  test("the chart draws CPU and memory lines for the metrics host, and keeps drawing as samples arrive", async () => {
    const { page } = await demo("charter", "chart-room");
    const lines = async () => page.locator('[data-testid="monitor-chart"] path').evaluateAll((ps) => ps.map((p) => ({ cls: p.getAttribute("class"), d: p.getAttribute("d") ?? "" })));
    await waitFor("a CPU and a memory line with several points", async () => {
      const l = await lines();
      return ["cpu", "mem"].every((cls) => l.some((x) => x.cls === cls && (x.d.match(/L/g)?.length ?? 0) >= 2));
    });
    const points = async () => (await lines()).find((x) => x.cls === "mem")!.d.split("L").length;
    const before = await points();
    await waitFor("more points", async () => (await points()) > before);
    expect(await page.getByTestId("monitor-chart").textContent()).toContain("50%"); // the grid's labels
  });

  test("a notification posted to the notifier appears with an unread count; mark all read; the test button; all still there after a reload", async () => {
    const { page } = await demo("reader-1", "inbox-room");
    expect(await text(page, "unread-count")).toBe("0");
    await notify("reader-1", "your parcel has shipped");
    await shows(page, "inbox", "your parcel has shipped");
    await shows(page, "unread-count", "1");
    await page.getByTestId("mark-read").click();
    await shows(page, "unread-count", "0");
    await page.getByTestId("send-test").click();
    await shows(page, "inbox", "Test notification");
    await shows(page, "unread-count", "1");

    await page.reload();
    await connected(page);
    await shows(page, "inbox", "your parcel has shipped"); // read back from the inbox's history
    await shows(page, "inbox", "Test notification");
    expect(await text(page, "unread-count")).toBe("1"); // the read mark survived the reload
  });

  test("a gateway restart is survived without a reload: the page reconnects, recovers a notification sent while it was down, and chats again", async () => {
    const { page, errors } = await demo("survivor", "restart-room");
    await using other = await sdk("restart-peer");
    const otherSub = await other.subscribe("chat:restart-room");
    await shows(page, "presence", "restart-peer");

    const restarted = sys.restartGateway(0, "SIGTERM", 500);
    await page.getByTestId("connection-state").filter({ hasText: /disconnected|connecting/ }).waitFor({ timeout: 10_000 });
    await waitFor("the old gateway gone", async () => {
      try {
        await fetch(`${sys.gw(0).http}/healthz`);
        return false;
      } catch {
        return true;
      }
    });
    await notify("survivor", "sent while the gateway was down");
    await restarted;
    await connected(page);
    await shows(page, "inbox", "sent while the gateway was down");

    await other.until(() => other.centrifuge.state === "connected", "the SDK client reconnected");
    await otherSub.ready(10_000);
    await otherSub.publish({ text: "after the restart" });
    await shows(page, "chat-log", "after the restart");
    await page.getByTestId("chat-input").fill("still here");
    await page.getByTestId("chat-input").press("Enter");
    await other.until(() => other.data("chat:restart-room").some((d) => (d as { text?: string }).text === "still here"), "the page's message after the restart");
    expect(errors).toEqual([]);
  });
});

describe("the demo endpoints", () => {
  test("GET /demo/token signs a token the gateway accepts; a bad user is 400; POST /demo/notify needs that token", async () => {
    const r = await fetch(`${sys.gw(0).http}/demo/token?user=ep-user`);
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const { token, user, expires_in } = (await r.json()) as { token: string; user: string; expires_in: number };
    expect(user).toBe("ep-user");
    expect(expires_in).toBeGreaterThan(60);
    await using ws = await TestSocket.open(`${sys.gw(0).ws}/notifications?token=${token}`); // a token like any other
    expect((await fetch(`${sys.gw(0).http}/demo/token?user=${encodeURIComponent("bad\u0001user")}`)).status).toBe(400);
    expect((await fetch(`${sys.gw(0).http}/demo/token`, { method: "POST" })).status).toBe(405);
    const anon = await fetch(`${sys.gw(0).http}/demo/notify`, { method: "POST" });
    expect(anon.status).toBe(401);
    expect(await anon.json()).toHaveProperty("error");
    const sent = await fetch(`${sys.gw(0).http}/demo/notify`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(sent.status).toBe(202);
    await ws.waitForMessages(1);
    expect(JSON.parse(ws.messages[0]!)).toMatchObject({ user_id: "ep-user", data: { kind: "demo-test" } });
  });
});

describe("the demo page in Chromium with WebSocket blocked", () => {
  /** The SDK transport the page's connection uses. */
  const transportOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { centrifuge: { _transport: { name(): string } } }).centrifuge._transport.name());

  /** Chats both ways with an SDK client, shows its presence, and gets a notification. */
  async function worksWithout(page: Page, user: string, room: string): Promise<void> {
    await using other = await sdk(`${user}-peer`);
    const sub = await other.subscribe(`chat:${room}`);
    await shows(page, "presence", `${user}-peer`);
    await page.getByTestId("chat-input").fill(`typed by ${user}`);
    await page.getByTestId("chat-input").press("Enter");
    await other.waitFor(`chat:${room}`, 1);
    expect(other.publications.find((p) => p.channel === `chat:${room}`)!.data).toEqual({ text: `typed by ${user}` });
    await shows(page, "chat-log", `typed by ${user}`);
    await sub.publish({ text: `from the peer of ${user}` });
    await shows(page, "chat-log", `from the peer of ${user}`);
    await notify(user, `a notification for ${user}`);
    await shows(page, "inbox", `a notification for ${user}`);
  }

  test.each(["http_stream", "sse"])("?transports=%s (no WebSocket in the list): connects, chats, shows presence and notifications", async (transport) => {
    const user = `no-ws-${transport}`;
    const w = await openPage(browser, `${sys.gw(0).http}/?user=${user}&room=no-ws-${transport}&transports=${transport}`);
    pages.push(w);
    await connected(w.page);
    expect(await transportOf(w.page)).toBe(transport);
    await worksWithout(w.page, user, `no-ws-${transport}`);
    expect(w.errors).toEqual([]);
  });

  test("the default list with every WebSocket upgrade refused (as a proxy that blocks them): falls back to http_stream and works", async () => {
    const user = "refused-ws";
    const w = await openPage(browser, `${sys.gw(0).http}/?user=${user}&room=refused-ws`, (page) => page.routeWebSocket(/\/connection\/websocket/, (ws) => ws.close({ code: 1006 })));
    pages.push(w);
    await connected(w.page);
    expect(await transportOf(w.page)).toBe("http_stream");
    await worksWithout(w.page, user, "refused-ws");
    expect(w.errors).toEqual([]);
  });
});
