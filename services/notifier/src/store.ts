import {
  DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, StorageType,
  type JetStreamClient, type JetStreamManager, type PubAck, type StreamConfig,
} from "@nats-io/jetstream";
import { headers, nanos, type NatsConnection } from "@nats-io/transport-node";
import { NOTIFICATIONS_MAX_MSG_SIZE, NOTIFICATIONS_STREAM, NOTIFY_USER_WILDCARD, epochOf, storedNotification, streamAdvisorySubjects, type StoredNotification } from "@rt/protocol";
import { ensureStream, secondsSince, type Logger } from "@rt/runtime";
import type { NotifierMetrics } from "./metrics.ts";

/** Stream limits, from the configuration. */
export interface StoreLimits {
  maxAgeMs: number;
  maxPerUser: number;
  /** NOTIFICATIONS_MAX_BYTES: every inbox together (past it the oldest notifications of any user go). */
  maxBytes: number;
  dedupWindowMs: number;
  /** JETSTREAM_REPLICAS: copies of the stream (3 on a 3-node cluster). */
  replicas: number;
}

/** How long a request may wait in line (behind the same user's) before it is answered 503. */
export const STORE_TIMEOUT_MS = 3000;
/** How long one JetStream ack or API answer is waited for; a send that may be retried safely tries again within SEND_BUDGET_MS. */
export const ATTEMPT_TIMEOUT_MS = 1000;
const HDR_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence";
/** JetStream's answer to a message over the stream's `max_msg_size` (JSStreamMessageExceedsMaximumErr). */
const MESSAGE_TOO_LARGE = 10054;
/** JetStream's "insufficient storage resources available" (JSInsufficientResourcesErr): max_bytes is over what the server may store. */
const INSUFFICIENT_RESOURCES = 10047;
/** How long the request that stored a notification waited for its delivery (ms): a repeat of it knows whether to look for its first answer. */
const HDR_DELIVERY_WAIT_MS = "Rt-Delivery-Wait-Ms";

/** The subject's last stored seq was not the one expected (another writer got there first). */
export class WrongLastSequenceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WrongLastSequenceError";
  }
}

/**
 * The stream refused the notification for its size (over its `max_msg_size`, lower than
 * NOTIFICATIONS_MAX_MSG_SIZE: set by hand or by another version). The publisher checked the stored
 * form against MAX_STORED_NOTIFICATION_BYTES before; retrying cannot help (413).
 */
export class NotificationTooLargeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotificationTooLargeError";
  }
}

/**
 * The NOTIFICATIONS stream: one subject per user, written with optimistic concurrency. Bounded per
 * user (`max_msgs_per_subject`), in age, in total (`max_bytes`, the oldest go) and per message
 * (`max_msg_size`); a stream created without these bounds (an older version) gets them at start.
 */
export class NotificationStore {
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private streamReady = false;
  private ensuring: Promise<void> | undefined;
  private closed = false;
  private readonly limits: StoreLimits;
  private currentEpoch: string | undefined;
  private readonly epochListeners: Array<(epoch: string) => void> = [];

  constructor(
    private readonly nc: NatsConnection,
    limits: StoreLimits,
    private readonly log: Logger,
    private readonly metrics: Pick<NotifierMetrics, "storeDuration" | "publishFailed">,
  ) {
    // Copied field by field: callers pass the whole config, which must not end up in a log line.
    this.limits = { maxAgeMs: limits.maxAgeMs, maxPerUser: limits.maxPerUser, maxBytes: limits.maxBytes, dedupWindowMs: limits.dedupWindowMs, replicas: limits.replicas };
    this.js = jetstream(nc, { timeout: ATTEMPT_TIMEOUT_MS });
    // Another notifier (or an operator) may create the stream anew or delete it: read its epoch again
    // at once. Read only: re-creating here, on the spot, raced the server's own deletion (acked
    // notifications became unreadable on nats-server 2.9.10); a write that finds the stream gone does it.
    for (const subject of streamAdvisorySubjects(NOTIFICATIONS_STREAM)) nc.subscribe(subject, { callback: () => void this.readEpoch() });
  }

  /** True once the stream has been created or updated, until a write finds it missing. */
  get ready(): boolean {
    return this.streamReady;
  }

  /** The inbox's epoch (its stream's life), once known. */
  get epoch(): string | undefined {
    return this.currentEpoch;
  }

  /** `fn` runs when the epoch changes (the stream was created anew: seqs start again). */
  onEpochChange(fn: (epoch: string) => void): void {
    this.epochListeners.push(fn);
  }

  /** The stream configuration this service owns. */
  streamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: NOTIFICATIONS_STREAM,
      subjects: [NOTIFY_USER_WILDCARD],
      storage: StorageType.File,
      max_age: nanos(this.limits.maxAgeMs),
      max_msgs_per_subject: this.limits.maxPerUser,
      max_bytes: this.limits.maxBytes,
      max_msg_size: NOTIFICATIONS_MAX_MSG_SIZE,
      duplicate_window: nanos(this.limits.dedupWindowMs),
      discard: DiscardPolicy.Old,
      num_replicas: this.limits.replicas,
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

  /** Whether the stream exists (asked of JetStream's meta leader); undefined when JetStream does not answer. */
  async exists(): Promise<boolean | undefined> {
    try {
      await (await this.manager()).streams.info(NOTIFICATIONS_STREAM);
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return false;
      return undefined;
    }
  }

  /** Seq of the last message stored on `subject`, 0 when there is none. */
  async lastSeq(subject: string): Promise<number> {
    const jsm = await this.manager();
    const m = await jsm.streams.getMessage(NOTIFICATIONS_STREAM, { last_by_subj: subject });
    return m?.seq ?? 0;
  }

  /**
   * The notification stored at `seq`, when it was stored (ms, the server's clock) and how long its
   * request waited for delivery (`wait_for_delivery_ms`, undefined when it did not); null when it is
   * gone (aged out, over the per-user limit).
   */
  async read(seq: number): Promise<{ notification: StoredNotification; storedAt: number; waitMs: number | undefined } | null> {
    const jsm = await this.manager();
    const m = await jsm.streams.getMessage(NOTIFICATIONS_STREAM, { seq });
    if (!m) return null;
    const value: unknown = m.json();
    if (!storedNotification.check(value)) return null;
    const wait = m.header?.get(HDR_DELIVERY_WAIT_MS) ?? "";
    return { notification: value, storedAt: m.time.getTime(), waitMs: /^\d{1,6}$/.test(wait) ? Number(wait) : undefined };
  }

  /**
   * Appends a notification (`payload`, a StoredNotification as JSON) on `subject` only if the
   * subject's last seq is still `prevSeq`, its `prev_seq` (the header is set for 0 as well: "no
   * message yet"). Throws WrongLastSequenceError when it is not. `waitMs`, the request's
   * `wait_for_delivery_ms`, goes along in a header (a repeat reads it). With a `msgID`, a repeat inside the
   * dedup window stores nothing and acks with the first one's seq; without, JetStream keeps no dedup
   * entry for it (about 170 bytes of server memory for the whole window). Each ack's wait is
   * measured; every other failure than a moved last seq counts as a failed publish.
   */
  async append(subject: string, payload: string, prevSeq: number, msgID: string | undefined, waitMs?: number): Promise<PubAck> {
    const h = headers();
    h.set(HDR_EXPECTED_LAST_SUBJECT_SEQ, String(prevSeq));
    if (waitMs !== undefined) h.set(HDR_DELIVERY_WAIT_MS, String(waitMs));
    const started = performance.now();
    try {
      const ack = await this.js.publish(subject, payload, { ...(msgID === undefined ? {} : { msgID }), headers: h, timeout: ATTEMPT_TIMEOUT_MS });
      this.metrics.storeDuration(secondsSince(started));
      return ack;
    } catch (err) {
      if (err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)) {
        throw new WrongLastSequenceError(err.message, { cause: err });
      }
      // The stream's own limit is lower than ours (set by hand or by another version): refused for good.
      if (err instanceof JetStreamApiError && err.code === MESSAGE_TOO_LARGE) throw new NotificationTooLargeError(`the notifications stream refused it as over its max_msg_size (${err.message})`, { cause: err });
      this.metrics.publishFailed();
      throw err;
    }
  }

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: ATTEMPT_TIMEOUT_MS, checkAPI: false });
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
        if (err instanceof JetStreamApiError && err.code === INSUFFICIENT_RESOURCES) {
          this.log.error({ err: String(err), attempt, maxBytes: this.limits.maxBytes, replicas: this.limits.replicas }, "JetStream cannot reserve NOTIFICATIONS_MAX_BYTES: lower it or give the NATS servers more storage (jetstream max_file_store); retrying");
        } else this.log.warn({ err: String(err), attempt }, "notifications stream not ready; retrying");
        await Bun.sleep(Math.min(250 * attempt, 2000));
      }
    }
  }

  private async createOrUpdate(): Promise<void> {
    const info = await ensureStream(await this.manager(), this.streamConfig());
    this.setEpoch(epochOf(info.created));
  }

  /** Reads the stream's epoch (after an advisory); a missing stream is left to the next write. */
  private async readEpoch(): Promise<void> {
    try {
      const jsm = await this.manager();
      this.setEpoch(epochOf((await jsm.streams.info(NOTIFICATIONS_STREAM)).created));
    } catch (err) {
      this.log.debug({ err: String(err) }, "could not read the stream's epoch after an advisory");
    }
  }

  private setEpoch(epoch: string): void {
    if (epoch === this.currentEpoch) return;
    const before = this.currentEpoch;
    this.currentEpoch = epoch;
    if (before !== undefined) this.log.warn({ before, epoch }, "the notifications stream was created anew: seqs start again under a new epoch");
    for (const fn of this.epochListeners) fn(epoch);
  }
}
