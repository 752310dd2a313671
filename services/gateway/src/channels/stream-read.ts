import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { Broker } from "../broker/broker.ts";
import type { ReadMsg } from "../broker/streams.ts";
import { StreamMissingError } from "./stream-get.ts";

export type { ReadMsg } from "../broker/streams.ts";

/**
 * Every message of `subject` in `stream` from `fromSeq` on, oldest first, read lazily (the
 * broker's ordered read: stop early with `break`). A read that cannot go on (a link drop) throws:
 * the caller reads again from where it is; a missing stream is a StreamMissingError.
 */
export async function* streamRead(broker: Broker, stream: string, subject: string, fromSeq: number): AsyncGenerator<ReadMsg> {
  const streams = broker.streams();
  if (!streams) throw new Error("not connected to NATS yet");
  try {
    yield* streams.read(stream, subject, fromSeq);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new StreamMissingError(err.message);
    throw err;
  }
}
