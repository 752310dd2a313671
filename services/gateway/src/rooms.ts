import type { Msg } from "@nats-io/transport-node";
import type { Server } from "bun";
import { roomFrame } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Broker } from "./broker/broker.ts";
import { isRepeat, type ConfirmedPublishing } from "./broker/confirmed-publisher.ts";
import type { OriginFilter } from "./broker/origin-filter.ts";
import type { RoomData, GatewaySocket } from "./socket-data.ts";
import type { Rejections } from "./rejections.ts";

/**
 * Chat rooms across gateways. A member's message is published locally with Bun's topic
 * publish (reaching the local members, the sender included) and once to the room's NATS
 * subject. Gateways connect with `noEcho`, so NATS hands the message to every other gateway
 * serving the room and never back to its origin: each member gets it exactly once, and one
 * sender's messages stay in order (one socket, one gateway connection, one subscription).
 * Publishes go through a confirmed outbox, so what a member sends while this gateway is cut
 * off from NATS reaches the other gateways once the link is back; repeats are dropped there.
 */
export class Rooms {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  constructor(
    private readonly server: () => Server<unknown>,
    private readonly broker: Broker,
    private readonly outbox: ConfirmedPublishing,
    private readonly repeats: OriginFilter,
    private readonly maxMessageBytes: number,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
    /** Told of every repeat dropped (another gateway sent it again after a reconnect). */
    private readonly onRepeat: () => void = () => undefined,
  ) {}

  /** Bun topic for a room. */
  static topic(room: string): string {
    return `room:${room}`;
  }

  /** A member joined. */
  join(ws: GatewaySocket & { data: RoomData }): void {
    ws.subscribe(ws.data.topic);
    const room = ws.data.room;
    this.broker.acquire(ws.data.subject, (msg) => this.fromNats(room, msg));
  }

  /** A member sent a text frame: local members now, other gateways with the next outbox batch. */
  say(data: RoomData, text: string): void {
    this.publish(data.topic, roomFrame(data.room, text));
    this.outbox.publish(data.subject, text);
  }

  /** A member left. */
  leave(data: RoomData): void {
    this.broker.release(data.subject);
  }

  private fromNats(room: string, msg: Msg): void {
    if (isRepeat(this.repeats, msg)) {
      this.onRepeat();
      return;
    }
    let text: string;
    try {
      if (msg.data.byteLength > this.maxMessageBytes) throw new Error("oversize");
      text = this.decoder.decode(msg.data);
    } catch {
      this.rejections.count("nats_room_payload", this.log, { room });
      return;
    }
    this.publish(Rooms.topic(room), roomFrame(room, text));
  }

  private publish(topic: string, frame: string): void {
    this.server().publish(topic, frame);
    this.published(frame.length);
  }
}
