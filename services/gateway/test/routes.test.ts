import { expect, test } from "bun:test";
import { route } from "../src/routes.ts";

test.each([
  ["/ws-chat", "echo"],
  ["/system-monitor", "monitor"],
  ["/notifications", "notifications"],
  ["/chat/lobby", "room"],
  ["/chat/a%2Db", "room"],
  ["/chat/", "badRoom"],
  ["/chat/a.b", "badRoom"],
  ["/chat/a%20b", "badRoom"],
  ["/chat/%E0%A4%A", "badRoom"],
  [`/chat/${"x".repeat(65)}`, "badRoom"],
  ["/chat/a/b", "notFound"],
  ["/chat", "notFound"],
  ["/nope", "notFound"],
  ["/ws-chat/", "notFound"],
  ["/connection/websocket", "centrifugo"],
  ["/connection/uni_websocket", "uniWebsocket"],
  ["/connection/http_stream", "stream"],
  ["/connection/sse", "stream"],
  ["/connection/uni_http_stream", "stream"],
  ["/connection/uni_sse", "stream"],
  ["/emulation", "emulation"],
  ["/connection/uni_sse/", "notFound"],
])("%s is %s", (path, kind) => {
  expect(route(path).kind).toBe(kind as ReturnType<typeof route>["kind"]);
});
