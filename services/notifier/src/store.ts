import {
  DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, StorageType,
  type JetStreamClient, type JetStreamManager, type PubAck, type StreamConfig,
} from "@nats-io/jetstream";
import { headers, nanos, type NatsConnection } from "@nats-io/transport-node";
import { NOTIFICATIONS_STREAM, NOTIFY_USER_WILDCARD, storedNotification, type StoredNotification } from "@rt/protocol";
import type { Logger } from "@rt/runtime";

/** Stream limits, from the configuration. */
export interface StoreLimits {
  maxAgeMs: number;
  maxPerUser: number;
  dedupWindowMs: number;
}

/** How long to wait for a JetStream ack or API answer before calling the store unavailable. */
export const STORE_TIMEOUT_MS = 3000;
const HDR_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence";

/** The subject's last stored seq was not the one expected (another writer got there first). */
export class WrongLastSequenceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WrongLastSequenceError";
  }
}

/** The NOTIFICATIONS stream: one subject per user, written with optimistic concurrency. */
export class NotificationStore {
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private streamReady = false;
  private ensuring: Promise<void> | undefined;
  private closed = false;
  private readonly limits: StoreLimits;

  constructor(private readonly nc: NatsConnection, limits: StoreLimits, private readonly log: Logger) {
    // Copied field by field: callers pass the whole config, which must not end up in a log line.
    this.limits = { maxAgeMs: limits.maxAgeMs, maxPerUser: limits.maxPerUser, dedupWindowMs: limits.dedupWindowMs };
    this.js = jetstream(nc, { timeout: STORE_TIMEOUT_MS });
  }

  /** True once the stream has been created or updated, until a write finds it missing. */
  get ready(): boolean {
    return this.streamReady;
  }

  /** The stream configuration this service owns. */
  streamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: NOTIFICATIONS_STREAM,
      subjects: [NOTIFY_USER_WILDCARD],
      storage: StorageType.File,
      max_age: nanos(this.limits.maxAgeMs),
      max_msgs_per_subject: this.limits.maxPerUser,
      duplicate_window: nanos(this.limits.dedupWindowMs),
      discard: DiscardPolicy.Old,
    };
  }

  /**
   * Creates or updates the stream, retrying until JetStream answers (logging each failure).
   * Concurrent calls share one attempt loop. Resolves once the stream is in place or on close().
   */
  ensureStream(): Promise<void> {
    this.ensuring ??= this.ensureLoop().finally(() => (this.ensuring = undefined));
    return this.ensuring;
  }

  /** Marks the stream as possibly missing and re-creates it in the background. */
  streamLost(reason: string): void {
    if (this.closed) return;
    this.streamReady = false;
    this.log.warn({ reason }, "notifications stream unavailable; re-creating");
    void this.ensureStream();
  }

  /** Stops background retries. */
  close(): void {
    this.closed = true;
  }

  /** Seq of the last message stored on `subject`, 0 when there is none. */
  async lastSeq(subject: string): Promise<number> {
    const jsm = await this.manager();
    const m = await jsm.streams.getMessage(NOTIFICATIONS_STREAM, { last_by_subj: subject });
    return m?.seq ?? 0;
  }

  /** The notification stored at `seq`, or null when it is gone (aged out, over the per-user limit). */
  async read(seq: number): Promise<StoredNotification | null> {
    const jsm = await this.manager();
    const m = await jsm.streams.getMessage(NOTIFICATIONS_STREAM, { seq });
    if (!m) return null;
    const value: unknown = m.json();
    return storedNotification.check(value) ? value : null;
  }

  /**
   * Appends `n` on `subject` only if the subject's last seq is still `n.prev_seq` (the header is set
   * for 0 as well: "no message yet"). Throws WrongLastSequenceError when it is not.
   */
  async append(subject: string, n: StoredNotification, msgID: string): Promise<PubAck> {
    const h = headers();
    h.set(HDR_EXPECTED_LAST_SUBJECT_SEQ, String(n.prev_seq));
    try {
      return await this.js.publish(subject, JSON.stringify(n), { msgID, headers: h, timeout: STORE_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) {
        throw new WrongLastSequenceError(err.message, { cause: err });
      }
      throw err;
    }
  }

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: STORE_TIMEOUT_MS, checkAPI: false });
    return this.jsm;
  }

  private async ensureLoop(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        await this.createOrUpdate();
        this.streamReady = true;
        this.log.info({ stream: NOTIFICATIONS_STREAM, limits: this.limits }, "notifications stream ready");
        return;
      } catch (err) {
        this.streamReady = false;
        this.log.warn({ err: String(err), attempt }, "notifications stream not ready; retrying");
        await Bun.sleep(Math.min(250 * attempt, 2000));
      }
    }
  }

  private async createOrUpdate(): Promise<void> {
    const jsm = await this.manager();
    const config = this.streamConfig();
    try {
      await jsm.streams.info(NOTIFICATIONS_STREAM);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        await jsm.streams.add(config);
        return;
      }
      throw err;
    }
    const { name: _name, storage: _storage, ...update } = config;
    await jsm.streams.update(NOTIFICATIONS_STREAM, update);
  }
}
