import type { StreamConfig } from "@nats-io/jetstream";

/** One stored message as a read gives it, from a single get or from an ordered read. */
export interface ReadMsg {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** When the stream stored it (ms, the server's clock). */
  at: number;
  /** A header's value ("" when absent, as NATS headers answer). */
  header(name: string): string;
}

/** The query forms of MSG.GET that nats-server 2.9 answers (no batch get, no direct get needed). */
export type MsgQuery = { seq: number } | { last_by_subj: string } | { seq: number; next_by_subj: string };

/** A stream's configuration as the gateway gives it (JetStream's own field names and units). */
export type StreamSettings = Partial<StreamConfig> & { name: string };

/** What the gateway reads of a stream's state. */
export interface StreamState {
  /** When this life of the stream began (RFC 3339, the server's clock): its epoch is derived from it. */
  created: string;
}

/**
 * The JetStream operations the gateway uses: a stream's life, single reads and ordered reads.
 * Failures JetStream answers are `JetStreamApiError`s with its codes (10059: no such stream,
 * 10047: not enough storage for its limits).
 */
export interface BrokerStreams {
  /** The stream's state; rejects with code 10059 when it does not exist. */
  info(stream: string): Promise<StreamState>;
  /** Creates the stream, or brings an existing one to these settings (every limit: what they no longer allow goes; name and storage stay). */
  ensure(settings: StreamSettings): Promise<void>;
  /** One stored message, or null when none answers the query. */
  get(stream: string, query: MsgQuery): Promise<ReadMsg | null>;
  /**
   * Every stored message of `subject` from `fromSeq` on, oldest first, read lazily (stop early
   * with `break`); throws rather than skip one (a link drop mid-read: read again from where you are).
   */
  read(stream: string, subject: string, fromSeq: number): AsyncGenerator<ReadMsg>;
}
