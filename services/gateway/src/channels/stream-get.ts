import { JetStreamApiCodes, JetStreamApiError, type StoredMsg } from "@nats-io/jetstream";
import type { Broker } from "../broker/broker.ts";

/** The stream itself is missing (deleted, or a new NATS store): reads wait for it to come back. */
export class StreamMissingError extends Error {
  override readonly name = "StreamMissingError";
}

/** The query forms of MSG.GET that nats-server 2.9 answers (no batch get, no direct get needed). */
export type MsgQuery = { seq: number } | { last_by_subj: string } | { seq: number; next_by_subj: string };

/**
 * One message of `stream`, or null when there is none. A read in flight when the link drops
 * fails at once (callers read again after the reconnect); a missing stream is a StreamMissingError.
 */
export async function streamGet(broker: Broker, stream: string, query: MsgQuery): Promise<StoredMsg | null> {
  const jsm = broker.jetstream();
  if (!jsm) throw new Error("not connected to NATS yet");
  try {
    // {seq, next_by_subj} is answered since 2.9; the client's type lists only the direct-get form.
    return await Promise.race([jsm.streams.getMessage(stream, query as { seq: number }), broker.linkDown()]);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new StreamMissingError(err.message);
    throw err;
  }
}
