import { Centrifuge, type TransportEndpoint } from "centrifuge";
import { ChatPanel } from "./chat-panel.ts";
import { byId } from "./dom.ts";
import { InboxPanel } from "./inbox-panel.ts";
import { MonitorPanel } from "./monitor-panel.ts";

// The demo page (served by a gateway with DEMO_PAGE=1): one connection with the `centrifuge` SDK
// for the chat room, every host's monitor samples and the user's inbox. `?user=`, `?room=` and
// `?transports=` (default `websocket,http_stream,sse`).
const params = new URLSearchParams(location.search);
const user = params.get("user") || "demo";
const room = params.get("room") || "lobby";
byId("user").textContent = user;
byId("room").textContent = room;
byId("room-title").textContent = `chat:${room}`;

/** The last token the gateway's demo endpoint gave (also the bearer of "send me a test notification"). */
let token = "";
async function getToken(): Promise<string> {
  const res = await fetch(`/demo/token?user=${encodeURIComponent(user)}`);
  if (!res.ok) throw new Error(`token endpoint: ${res.status} ${await res.text()}`);
  token = ((await res.json()) as { token: string }).token;
  return token;
}

async function sendTest(): Promise<string> {
  const res = await fetch("/demo/notify", { method: "POST", headers: { authorization: `Bearer ${token}` } });
  return `${res.status} ${await res.text()}`;
}

// The SDK's transport list: WebSocket first, then HTTP-streaming and SSE where a proxy refuses
// WebSockets (their later commands go to `/emulation`). `?transports=http_stream,sse` picks and orders them.
const endpoints: Record<string, string> = {
  websocket: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/connection/websocket`,
  http_stream: `${location.origin}/connection/http_stream`,
  sse: `${location.origin}/connection/sse`,
};
const asked = (params.get("transports") || "websocket,http_stream,sse").split(",").filter((t) => t in endpoints);
const transports = (asked.length > 0 ? asked : Object.keys(endpoints)).map((transport) => ({ transport, endpoint: endpoints[transport]! }));
// Reconnects by itself (backoff up to 5 s here); subscriptions come back recovering what was missed.
const centrifuge = new Centrifuge(transports as TransportEndpoint[], { getToken, minReconnectDelay: 200, maxReconnectDelay: 5000, emulationEndpoint: `${location.origin}/emulation` });
const state = byId("state");
const show = (s: string) => {
  state.textContent = s;
  state.className = `state ${s}`;
};
centrifuge.on("connecting", () => show("connecting"));
centrifuge.on("connected", () => show("connected"));
centrifuge.on("disconnected", () => show("disconnected"));

new ChatPanel(centrifuge, room);
new MonitorPanel(centrifuge);
new InboxPanel(centrifuge, user, sendTest);
centrifuge.connect();
// For the browser tests and the curious: the SDK instance.
(window as unknown as { centrifuge: Centrifuge }).centrifuge = centrifuge;
