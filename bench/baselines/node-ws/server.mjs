// Baseline (b): the room server most Node users would write. Node 20, `ws`, and NATS between
// instances: each room keeps a Set of its sockets; a frame is published to the room's NATS
// subject and sent to every local member with a loop over the Set (sender included).
// NATS client: @nats-io/transport-node 3.4.0. It runs on Node 20 (checked: publish, subscribe,
// noEcho); npm only warns that @nats-io/nuid declares node >= 22. So the `nats` 2.x package is
// not needed.
// PORT (required), HOST (127.0.0.1), NATS_URL (nats://127.0.0.1:4222).
import { createServer } from "node:http";
import { WebSocketServer } from "ws";
import { connect } from "@nats-io/transport-node";

const ROOM = /^\/chat\/([A-Za-z0-9_-]{1,64})$/;
const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222", user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD, noEcho: true, maxReconnectAttempts: -1, name: `node-ws-${process.pid}` });
/** room -> its local sockets */
const rooms = new Map();
/** room -> NATS subscription */
const subs = new Map();

function broadcast(room, text) {
  const frame = `Room ${room}: ${text}`;
  const members = rooms.get(room);
  if (!members) return;
  for (const ws of members) if (ws.readyState === ws.OPEN) ws.send(frame);
}

function join(ws, room) {
  let members = rooms.get(room);
  if (!members) {
    members = new Set();
    rooms.set(room, members);
    subs.set(room, nc.subscribe(`chat.room.${room}`, { callback: (err, msg) => { if (!err) broadcast(room, msg.string()); } }));
  }
  members.add(ws);
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    broadcast(room, text);
    nc.publish(`chat.room.${room}`, text);
  });
  ws.on("close", () => {
    members.delete(ws);
    if (members.size === 0) {
      rooms.delete(room);
      subs.get(room)?.unsubscribe();
      subs.delete(room);
    }
  });
}

const http = createServer((req, res) => {
  res.writeHead(404).end("not found");
});
const wss = new WebSocketServer({ noServer: true });
http.on("upgrade", (req, socket, head) => {
  const m = ROOM.exec(req.url ?? "");
  if (!m) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => join(ws, m[1]));
});
http.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1", () => console.log(`node-ws listening on ${process.env.PORT}`));

process.on("SIGTERM", async () => {
  for (const ws of wss.clients) ws.terminate();
  http.close();
  await nc.close();
  process.exit(0);
});
