// Baseline (c): multi-node rooms the way most Node teams run them. Node 20, Socket.IO 4.8 and
// @socket.io/redis-adapter 8.3 with the `redis` 4.x client its README shows (the adapter's own
// tests use redis ^4.6). Run two or more of these against one redis-server: each process keeps
// its local room members; a broadcast goes to the local ones and, through one Redis PUBLISH, to
// the other processes, which send it to theirs.
// A client joins its room with `?room=` on the connect URL (Socket.IO's `query` option), joined
// in the `connection` handler, so it is in the room when it gets its CONNECT reply. An event
// `msg` from a member goes to the whole room, sender included: `io.to(room).emit("msg", payload)`.
// WebSocket transport only (no long-polling first), per-message deflate off (as the gateway).
// PORT (required), HOST (127.0.0.1), REDIS_URL (redis://127.0.0.1:6379).
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const ROOM = /^[A-Za-z0-9_-]{1,64}$/;
const pubClient = createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
const subClient = pubClient.duplicate();
await Promise.all([pubClient.connect(), subClient.connect()]);

const http = createServer();
const io = new Server(http, {
  adapter: createAdapter(pubClient, subClient),
  transports: ["websocket"],
  perMessageDeflate: false,
  serveClient: false,
});

io.on("connection", (socket) => {
  const room = socket.handshake.query.room;
  if (typeof room !== "string" || !ROOM.test(room)) {
    socket.disconnect(true);
    return;
  }
  socket.join(room);
  socket.on("msg", (payload) => {
    io.to(room).emit("msg", payload);
  });
});

http.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1", () => console.log(`socketio-redis listening on ${process.env.PORT}`));

process.on("SIGTERM", async () => {
  setTimeout(() => process.exit(0), 2000).unref();
  // io.close() disconnects this process's sockets only and closes the HTTP server.
  await new Promise((resolve) => io.close(resolve));
  await Promise.allSettled([pubClient.quit(), subClient.quit()]);
  process.exit(0);
});
