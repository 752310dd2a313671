/**
 * Baseline: the NATS-hop floor. Raw Bun rooms (floor-rooms.ts) that publish every message on
 * core NATS (`floor.hop.<room>`) and fan it out when NATS delivers it: one hop through
 * nats-server and nothing else, the least a room spread over servers can cost.
 */
import { serveFloor } from "./floor-rooms.ts";
import { hopSubject } from "./floor-subjects.ts";

await serveFloor("nats-floor", {
  deliver: hopSubject,
  relay: (nc, room, data) => nc.publish(hopSubject(room), data),
});
