/**
 * Baseline (a): the least a Bun room server can do. `/chat/{room}` joins the Bun topic of the
 * room; every text frame goes to every member with one `server.publish`, sender included, in
 * the gateway's frame format. No NATS, no validation, no auth, no limits.
 * PORT (required), HOST (127.0.0.1).
 */
interface Member {
  room: string;
}

const server = Bun.serve<Member>({
  port: Number(process.env.PORT),
  hostname: process.env.HOST ?? "127.0.0.1",
  fetch(req, srv) {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/chat/") && srv.upgrade(req, { data: { room: path.slice(6) } })) return undefined;
    return new Response("not found", { status: 404 });
  },
  websocket: {
    data: {} as Member,
    open(ws) {
      ws.subscribe(ws.data.room);
    },
    message(ws, message) {
      server.publish(ws.data.room, `Room ${ws.data.room}: ${String(message)}`);
    },
  },
});

console.log(`raw-bun listening on ${server.port}`);
process.on("SIGTERM", () => {
  void server.stop(true).then(() => process.exit(0));
});
