/**
 * The Bun side of the NATS floors (nats-floor.ts, jetstream-floor.ts): the least a room server
 * can do when every message must cross NATS, as the gateway's must. `/chat/{room}` joins the
 * room's Bun topic; the first member of a room in this process subscribes the room's delivery
 * subject and the last one to leave unsubscribes it; each delivery goes to the room's members
 * with one `server.publish`, unchanged, as text; each frame a member sends is handed to the
 * floor's `relay`, and reaches the members (the sender too) only through that delivery. No
 * validation beyond the room name, no auth, no limits.
 * PORT (required), HOST (127.0.0.1), NATS_URL, NATS_USER, NATS_PASSWORD.
 */
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** How a floor sends a room's messages through NATS. */
export interface Floor {
  /** The subject a room's messages are delivered on. */
  deliver(room: string): string;
  /** Sends one member's message on its way (it comes back on `deliver(room)`). */
  relay(nc: NatsConnection, room: string, data: string | Uint8Array): void;
  /** Runs once connected, before serving (creates a stream, say). */
  setup?(nc: NatsConnection): Promise<void>;
}

/** Room names become NATS subject tokens: nothing else gets in. */
const ROOM = /^[A-Za-z0-9_-]{1,64}$/;

/** Serves rooms through `floor` until SIGTERM. */
export async function serveFloor(name: string, floor: Floor): Promise<void> {
  const nc = await connect({ servers: process.env.NATS_URL, user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD, name });
  await floor.setup?.(nc);
  const rooms = new Map<string, { members: number; sub: Subscription }>();
  const server = Bun.serve<{ room: string }>({
    port: Number(process.env.PORT),
    hostname: process.env.HOST ?? "127.0.0.1",
    fetch(req, srv) {
      const path = new URL(req.url).pathname;
      const room = path.slice("/chat/".length);
      if (path.startsWith("/chat/") && ROOM.test(room) && srv.upgrade(req, { data: { room } })) return undefined;
      return new Response("not found", { status: 404 });
    },
    websocket: {
      data: {} as { room: string },
      open(ws) {
        const room = ws.data.room;
        ws.subscribe(room);
        const r = rooms.get(room);
        if (r) r.members++;
        else rooms.set(room, { members: 1, sub: nc.subscribe(floor.deliver(room), { callback: (_err, m) => void server.publish(room, m.string()) }) });
      },
      message(ws, message) {
        floor.relay(nc, ws.data.room, message);
      },
      close(ws) {
        const r = rooms.get(ws.data.room);
        if (r && --r.members === 0) {
          r.sub.unsubscribe();
          rooms.delete(ws.data.room);
        }
      },
    },
  });
  console.log(`${name} listening on ${server.port}`);
  process.on("SIGTERM", () => {
    void server.stop(true).then(() => nc.close()).then(() => process.exit(0));
  });
}
