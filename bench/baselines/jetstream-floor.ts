/**
 * Baseline: the JetStream floor. Raw Bun rooms (floor-rooms.ts) that publish every message into
 * a stream (`floor.js.in.<room>`, a core publish: no ack asked for, none awaited) that keeps it as
 * the gateway's ROOMS stream keeps a room's (file storage, 100 per room, 24 h) and republishes
 * it to `floor.js.out.<room>`; the members get the republished copy. The least a room with
 * history can cost: every message stored once and delivered once through nats-server.
 */
import { DiscardPolicy, StorageType, jetstreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { serveFloor } from "./floor-rooms.ts";
import { JS_FLOOR_STREAM, jsInSubject, jsOutSubject } from "./floor-subjects.ts";

await serveFloor("jetstream-floor", {
  deliver: jsOutSubject,
  relay: (nc, room, data) => nc.publish(jsInSubject(room), data),
  async setup(nc) {
    // Every process adds the same configuration: the first creates the stream, the others find it as it is.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: JS_FLOOR_STREAM,
      subjects: [jsInSubject(">")],
      storage: StorageType.File,
      max_msgs_per_subject: 100,
      max_age: nanos(24 * 3_600_000),
      discard: DiscardPolicy.Old,
      republish: { src: jsInSubject(">"), dest: jsOutSubject(">") },
    });
  },
});
