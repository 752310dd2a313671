import type { NatsConnection, Msg } from "@nats-io/transport-node";
import type { Server } from "bun";
import { roomFrame, roomSubject } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { Interest } from "./interest.ts";
import type { RoomData, GatewaySocket } from "./socket-data.ts";
import type { Rejections } from "./rejections.ts";

/**
 * Chat rooms across gateways. A member's message is published locally with Bun's topic
 * publish (reaching the local members, the sender included) and once to the room's NATS
 * subject. Gateways connect with `noEcho`, so NATS hands the message to every other gateway
 * serving the room and never back to its origin: each member gets it exactly once, and one
 * sender's messages stay in order (one socket, one gateway connection, one subscription).
 */
export class Rooms {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  constructor(
    private readonly server: () => Server<unknown>,
    private readonly nc: NatsConnection,
    private readonly interest: Interest,
    private readonly maxMessageBytes: number,
    private readonly rejections: Rejections,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
  ) {}

  /** Bun topic for a room. */
  static topic(room: string): string {
    return `room:${room}`;
  }

  /** A member joined. */
  join(ws: GatewaySocket & { data: RoomData }): void {
    ws.subscribe(ws.data.topic);
    const room = ws.data.room;
    this.interest.acquire(roomSubject(room), (msg) => this.fromNats(room, msg));
  }

  /** A member sent a text frame. */
  say(data: RoomData, text: string): void {
    this.publish(data.topic, roomFrame(data.room, text));
    try {
      this.nc.publish(roomSubject(data.room), text); // buffered by the client while reconnecting
    } catch (err) {
      this.rejections.count("nats_publish_failed", this.log, { room: data.room, err: String(err) });
    }
  }

  /** A member left. */
  leave(data: RoomData): void {
    this.interest.release(roomSubject(data.room));
  }

  private fromNats(room: string, msg: Msg): void {
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
