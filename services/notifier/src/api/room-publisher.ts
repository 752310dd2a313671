import { createHash } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { PUBLICATION_ENVELOPE_BYTES, ROOMS_STREAM, STREAM_HEADER_BYTES, epochOf, roomPayload, roomSubject, streamAdvisorySubjects } from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { NotifierMetrics } from "../metrics.ts";
import { AckedPublisher, PublishFailedError, type StreamAck } from "./acked-publish.ts";

/** How long a JetStream API call (stream info) is waited for. */
const API_TIMEOUT_MS = 5000;

/** The ROOMS stream is not there (no gateway created it yet, or it was deleted): the caller may retry. */
export class NoRoomsStreamError extends Error {}

/**
 * The ROOMS stream refused the publication for its size (over its `max_msg_size`, set by the
 * gateways from their MAX_MESSAGE_BYTES): only when the gateways were given a smaller one than this
 * notifier, which checked the data against its own. Retrying cannot help.
 */
export class RoomMessageTooLargeError extends Error {}

/** The stream's answer to a message over its `max_msg_size` (JSStreamMessageExceedsMaximumErr). */
const MESSAGE_TOO_LARGE = '"err_code":10054';

/**
 * The server API's publications into rooms: stored by the ROOMS stream (which the gateways own and
 * which republishes each one to every gateway serving the room), answered with the offset the
 * stream gave it and the stream's epoch. An idempotency key becomes the message's `Nats-Msg-Id`
 * (scoped to the room), so a repeat within the stream's duplicate window stores nothing and is
 * answered with the first one's offset.
 */
export class RoomPublisher {
  private readonly publisher: AckedPublisher;
  private jsm: JetStreamManager | undefined;
  private epoch: string | undefined;

  /** `inboxPrefix`: the connection's (the stream's acks arrive under it). */
  constructor(private readonly nc: NatsConnection, inboxPrefix: string, private readonly log: Logger, private readonly metrics: Pick<NotifierMetrics, "publishFailed">) {
    this.publisher = new AckedPublisher(nc, inboxPrefix);
    // A stream created anew (by a gateway, after an operator deleted it) has another epoch.
    for (const subject of streamAdvisorySubjects(ROOMS_STREAM)) nc.subscribe(subject, { callback: () => (this.epoch = undefined) });
  }

  stop(): void {
    this.publisher.stop();
  }

  /** Stores the data (its JSON: `dataJson`) as a publication of `room` (no `info`: the server published it); a publish the stream did not take is counted as failed. */
  async publish(room: string, dataJson: string, idempotencyKey: string | undefined): Promise<{ offset: number; epoch: string }> {
    const msgID = idempotencyKey === undefined ? undefined : `api:${createHash("sha256").update(`${room}\u0000${idempotencyKey}`).digest("base64url")}`;
    let ack: StreamAck;
    try {
      ack = await this.publisher.publish(roomSubject(room), roomPayload(dataJson), msgID);
    } catch (err) {
      this.metrics.publishFailed();
      if (err instanceof PublishFailedError && err.reason === "no-stream") throw new NoRoomsStreamError("the ROOMS stream is not there (no gateway has created it yet)");
      if (err instanceof PublishFailedError && err.reason === "refused" && err.message.includes(MESSAGE_TOO_LARGE)) throw new RoomMessageTooLargeError(`the publication is over the rooms stream's max_msg_size (the gateways' MAX_MESSAGE_BYTES plus ${PUBLICATION_ENVELOPE_BYTES + STREAM_HEADER_BYTES}): give the gateways and the notifier the same MAX_MESSAGE_BYTES`);
      throw err;
    }
    return { offset: ack.seq, epoch: this.epoch ?? (await this.currentEpoch()) };
  }

  /** The stream's epoch, read once and again after it was created or deleted. */
  private async currentEpoch(): Promise<string> {
    if (this.epoch !== undefined) return this.epoch;
    this.jsm ??= await jetstreamManager(this.nc, { timeout: API_TIMEOUT_MS, checkAPI: false });
    try {
      this.epoch = epochOf((await this.jsm.streams.info(ROOMS_STREAM)).created);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new NoRoomsStreamError(err.message);
      throw err;
    }
    this.log.debug({ epoch: this.epoch }, "rooms stream epoch");
    return this.epoch;
  }
}
