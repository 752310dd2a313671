// The streaming transports in Debian's Chromium, from a page on another origin: the browser's own
// EventSource and fetch streaming read what the transport kit writes, the SDK's browser build
// (dist/centrifuge.js) connects over SSE and HTTP-streaming with CORS (the emulation POSTs are
// preflighted), and a bare EventSource reads /connection/uni_sse.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import type { Browser } from "playwright-core";
import { ROOT, TestNats } from "@rt/testkit";
import { launchChromium, openPage } from "@rt/testkit/browser";
import { ToyGateway } from "./harness.ts";

let nats: TestNats;
let gw: ToyGateway;
let browser: Browser;
let pageServer: ReturnType<typeof Bun.serve>;

const PAGE = (gateway: string) => `<!doctype html><meta charset="utf-8"><script src="/centrifuge.js"></script><script>
window.results = { sse: [], stream: [], uni: [], errors: [] };
const GW = ${JSON.stringify(gateway)};
for (const [name, transport] of [["sse", "sse"], ["stream", "http_stream"]]) {
  const c = new Centrifuge([{ transport, endpoint: GW + "/connection/" + transport }], { emulationEndpoint: GW + "/emulation" });
  c.on("error", (e) => results.errors.push(name + ": " + JSON.stringify(e.error)));
  c.on("connected", (ctx) => (results[name + "Client"] = ctx.client));
  const sub = c.newSubscription("chat:browser");
  sub.on("subscribed", () => (results[name + "Subscribed"] = true));
  sub.on("publication", (ctx) => results[name].push(ctx.data));
  sub.subscribe();
  c.connect();
}
const es = new EventSource(GW + "/connection/uni_sse?cf_connect=" + encodeURIComponent(JSON.stringify({ subs: { "chat:browser": {} } })));
es.onmessage = (e) => results.uni.push(JSON.parse(e.data));
</script>`;

beforeAll(async () => {
  nats = await TestNats.start({ jetstream: false });
  [gw, browser] = await Promise.all([ToyGateway.start(nats.url), launchChromium()]);
  const bundle = resolve(ROOT, "node_modules/centrifuge/dist/centrifuge.js");
  pageServer = Bun.serve({
    port: 0,
    fetch: (req) => (new URL(req.url).pathname === "/centrifuge.js" ? new Response(Bun.file(bundle)) : new Response(PAGE(gw.http), { headers: { "Content-Type": "text/html" } })),
  });
});
afterAll(async () => {
  await browser?.close();
  pageServer?.stop(true);
  await gw?.[Symbol.asyncDispose]();
  await nats?.[Symbol.asyncDispose]();
});

test("from another origin: the SDK over SSE and HTTP-streaming subscribes through /emulation and gets publications; a bare EventSource reads uni_sse", async () => {
  const w = await openPage(browser, `http://localhost:${pageServer.port}/`); // localhost vs 127.0.0.1: another origin
  const results = () => w.page.evaluate(() => (globalThis as unknown as { results: Record<string, unknown> }).results) as Promise<{ sse: unknown[]; stream: unknown[]; uni: Array<Record<string, unknown>>; errors: string[]; sseSubscribed?: boolean; streamSubscribed?: boolean }>;
  await w.page.waitForFunction(() => {
    const r = (globalThis as unknown as { results: { sseSubscribed?: boolean; streamSubscribed?: boolean; uni: unknown[] } }).results;
    return r.sseSubscribed === true && r.streamSubscribed === true && r.uni.length >= 1;
  }, undefined, { timeout: 10_000 });
  for (let n = 1; n <= 3; n++) gw.publish("chat:browser", { n });
  await w.page.waitForFunction(() => {
    const r = (globalThis as unknown as { results: { sse: unknown[]; stream: unknown[]; uni: unknown[] } }).results;
    return r.sse.length >= 3 && r.stream.length >= 3 && r.uni.length >= 4;
  }, undefined, { timeout: 10_000 });
  const r = await results();
  expect(r.sse).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  expect(r.stream).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  expect(r.uni[0]).toHaveProperty("connect.client");
  expect(r.uni.slice(1)).toEqual([1, 2, 3].map((n) => ({ channel: "chat:browser", pub: { data: { n } } })));
  expect(r.errors).toEqual([]);
  expect(w.errors).toEqual([]);
  expect(gw.opened.map((s) => s.transport.info.name).sort()).toEqual(["http_stream", "sse", "uni_sse"]);
});
