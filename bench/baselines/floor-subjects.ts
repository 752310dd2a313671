/** The NATS subjects of the floors (nats-floor.ts, jetstream-floor.ts), shared with the bench that publishes on them directly. */

/** The NATS-hop floor: a room's messages are published and delivered on this subject. */
export const hopSubject = (room: string) => `floor.hop.${room}`;

/** The JetStream floor: its stream, the subjects it stores (a room's messages go in here) and those it republishes to (members get these). */
export const JS_FLOOR_STREAM = "FLOOR";
export const jsInSubject = (room: string) => `floor.js.in.${room}`;
export const jsOutSubject = (room: string) => `floor.js.out.${room}`;
