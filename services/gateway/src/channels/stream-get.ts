import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { Broker } from "../broker/broker.ts";
import type { MsgQuery, ReadMsg } from "../broker/streams.ts";

export type { MsgQuery } from "../broker/streams.ts";

/** The stream itself is missing (deleted, or a new NATS store): reads wait for it to come back. */
export class StreamMissingError extends Error {
  override readonly name = "StreamMissingError";
}

/**
 * One message of `stream`, or null when there is none. A read in flight when the link drops
 * fails at once (callers read again after the reconnect); a missing stream is a StreamMissingError.
 */
export async function streamGet(broker: Broker, stream: string, query: MsgQuery): Promise<ReadMsg | null> {
  const streams = broker.streams();
  if (!streams) throw new Error("not connected to NATS yet");
  try {
    return await streams.get(stream, query);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new StreamMissingError(err.message);
    throw err;
  }
}
