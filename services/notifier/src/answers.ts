import {
  DiscardPolicy, jetstream, jetstreamManager, StorageType,
  type JetStreamClient, type JetStreamManager, type StreamConfig,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { NOTIFY_ANSWERS_STREAM, NOTIFY_ANSWER_WILDCARD, answerRecord, answerSubject, type AnswerRecord } from "@rt/protocol";
import { ensureStream, type Logger } from "@rt/runtime";
import { ATTEMPT_TIMEOUT_MS } from "./store.ts";

/** Total bytes of first answers kept (about 250,000 of them); past it the oldest go first. */
export const ANSWERS_MAX_BYTES = 64 * 1024 * 1024;
/** Largest record: an id, a seq, an epoch and a boolean. */
const MAX_RECORD_BYTES = 1024;
/** The stream's own duplicate window (unused: records carry no msg id), at most its max age as JetStream requires. */
const RECORD_DEDUP_MS = 120_000;
/** Attempts at writing one record. */
const RECORD_ATTEMPTS = 3;

/**
 * The first answers of keyed notifications that waited for delivery, in JetStream (stream
 * NOTIFY_ANSWERS: one subject per dedup id, its last message only, kept for the dedup window), so a
 * repeat of the request gets the same `delivered` from any notifier of the queue group, across
 * restarts. The notifier that stored a notification records its answer once its wait is over; one
 * that gets a repeat reads the record, waiting for it while the first is still waiting.
 */
export class AnswerRecords {
  private readonly js: JetStreamClient;
  private jsm: JetStreamManager | undefined;
  private ensuring: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly nc: NatsConnection, private readonly limits: { windowMs: number; replicas: number }, private readonly log: Logger) {
    this.js = jetstream(nc, { timeout: ATTEMPT_TIMEOUT_MS });
  }

  /** The stream configuration this service owns. */
  streamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: NOTIFY_ANSWERS_STREAM,
      subjects: [NOTIFY_ANSWER_WILDCARD],
      storage: StorageType.File,
      max_msgs_per_subject: 1,
      max_age: nanos(this.limits.windowMs),
      max_bytes: ANSWERS_MAX_BYTES,
      max_msg_size: MAX_RECORD_BYTES,
      duplicate_window: nanos(Math.min(RECORD_DEDUP_MS, this.limits.windowMs)),
      discard: DiscardPolicy.Old,
      num_replicas: this.limits.replicas,
    };
  }

  /** Creates or updates the stream, retrying until JetStream answers; concurrent calls share one attempt loop. */
  ensureStream(): Promise<void> {
    this.ensuring ??= this.ensureLoop().finally(() => (this.ensuring = undefined));
    return this.ensuring;
  }

  /** Stops background retries. */
  close(): void {
    this.closed = true;
  }

  /**
   * Records the first answer of the notification keyed `dedupId`. A record that cannot be written
   * (after a few attempts) is logged: a repeat of the request then answers `delivered: false`.
   */
  async record(dedupId: string, answer: AnswerRecord): Promise<void> {
    const subject = answerSubject(dedupId);
    const payload = JSON.stringify({ id: answer.id, seq: answer.seq, ...(answer.epoch === undefined ? {} : { epoch: answer.epoch }), delivered: answer.delivered });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.js.publish(subject, payload, { timeout: ATTEMPT_TIMEOUT_MS });
        return;
      } catch (err) {
        // No stream there (yet, or deleted: nobody answers its subject) is the likely cause; the loop is shared.
        void this.ensureStream();
        if (attempt >= RECORD_ATTEMPTS) {
          this.log.warn({ seq: answer.seq, err: String(err) }, "could not record a notification's first answer: a repeat of it will answer delivered: false");
          return;
        }
        await Bun.sleep(100 * attempt);
      }
    }
  }

  /**
   * `delivered` of the first answer for the notification at `seq` keyed `dedupId`: read from the
   * stream, or awaited until `until` (ms since the epoch) while the first request is still waiting
   * for its receipt. Undefined when there is none by then (the first never recorded one).
   */
  async delivered(dedupId: string, seq: number, until: number): Promise<boolean | undefined> {
    const subject = answerSubject(dedupId);
    // Subscribed before the read: a record written in between is not missed.
    const sub = this.nc.subscribe(subject);
    const live = (async () => {
      for await (const m of sub) {
        const r = this.parse(m.data);
        if (r?.seq === seq) return r.delivered;
      }
      return undefined;
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const stored = await this.last(subject);
      if (stored?.seq === seq) return stored.delivered;
      const left = until - Date.now();
      if (left <= 0) return undefined;
      const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), left)));
      return await Promise.race([live, timeout]);
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  /** The record on `subject`, or undefined when there is none (or JetStream does not answer: then only a live one counts). */
  private async last(subject: string): Promise<AnswerRecord | undefined> {
    try {
      const m = await (await this.manager()).streams.getMessage(NOTIFY_ANSWERS_STREAM, { last_by_subj: subject });
      return m ? this.parse(m.data) : undefined;
    } catch (err) {
      this.log.debug({ err: String(err) }, "could not read a first answer");
      return undefined;
    }
  }

  private parse(data: Uint8Array): AnswerRecord | undefined {
    if (data.byteLength > MAX_RECORD_BYTES) return undefined;
    try {
      const value: unknown = JSON.parse(new TextDecoder().decode(data));
      return answerRecord.check(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  private async manager(): Promise<JetStreamManager> {
    this.jsm ??= await jetstreamManager(this.nc, { timeout: ATTEMPT_TIMEOUT_MS, checkAPI: false });
    return this.jsm;
  }

  private async ensureLoop(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        await ensureStream(await this.manager(), this.streamConfig());
        this.log.info({ stream: NOTIFY_ANSWERS_STREAM }, "first-answers stream ready");
        return;
      } catch (err) {
        this.log.warn({ err: String(err), attempt }, "first-answers stream not ready; retrying");
        await Bun.sleep(Math.min(250 * attempt, 10_000));
      }
    }
  }
}
