import type { NatsConnection, Msg } from "@nats-io/transport-node";
import type { Server } from "bun";
import { roomFrame } from "@rt/protocol";
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
    this.interest.acquire(ws.data.subject, (msg) => this.fromNats(room, msg));
  }

  /** A member sent a text frame: local members now, other gateways with the next outbox flush. */
  say(data: RoomData, text: string): void {
    this.publish(data.topic, roomFrame(data.room, text));
    this.outbox.push(data.subject, text);
    if (this.outbox.length === 2) setImmediate(this.flush);
  }

  /** A member left. */
  leave(data: RoomData): void {
    this.interest.release(data.subject);
  }

  /**
   * NATS publishes of one event-loop turn go out together: the client then writes them to the
   * socket once instead of once per message (about 4x less CPU per message). The outbox is
   * first in, first out, so each sender's order holds.
   */
  private readonly outbox: string[] = [];
  private readonly flush = (): void => {
    const o = this.outbox;
    for (let i = 0; i < o.length; i += 2) {
      try {
        this.nc.publish(o[i]!, o[i + 1]!); // buffered by the client while reconnecting
      } catch (err) {
        this.rejections.count("nats_publish_failed", this.log, { subject: o[i], err: String(err) });
      }
    }
    o.length = 0;
  };

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
