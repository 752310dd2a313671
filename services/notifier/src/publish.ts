import { createHash, randomBytes } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError, JetStreamError, type PubAck } from "@nats-io/jetstream";
import { errors, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  MAX_STORED_NOTIFICATION_BYTES, bytesOver, deliveredSubject, userLiveSubject, userStoreSubject,
  type LiveNotification, type NotifyAnswer, type NotifyRequest, type StoredNotification,
} from "@rt/protocol";
import type { Logger } from "@rt/runtime";
import type { AnswerRecords } from "./answers.ts";
import { LruMap } from "./lru.ts";
import type { NotifierMetrics } from "./metrics.ts";
import { failed, unavailable, type Outcome } from "./outcome.ts";
import { KeyedSerializer } from "./serial.ts";
import { NotificationTooLargeError, STORE_TIMEOUT_MS, WrongLastSequenceError, type NotificationStore } from "./store.ts";

/** Users whose last seq is remembered; a miss costs one read from the stream. */
export const LAST_SEQ_CACHE_SIZE = 100_000;
/** Attempts when another writer keeps moving a user's last seq. */
export const MAX_SEQ_ATTEMPTS = 8;
/**
 * How long one send keeps trying while JetStream does not answer (a stream leader being elected
 * takes 2-4 s on a cluster). Only attempts that cannot store twice are repeated: a keyed send
 * (the dedup id makes a repeat a no-op) or a send that certainly stored nothing (no responders).
 */
export const SEND_BUDGET_MS = 5000;
/** How long past the first request's wait a repeat waits for its recorded answer (the record is written once the wait is over). */
export const RECORD_GRACE_MS = 2000;

/** What the publish flow needs from the NATS connection. */
export interface PublishDeps {
  nc: NatsConnection;
  connected: () => boolean;
  store: NotificationStore;
  /** Where the first answers of keyed requests that waited for delivery are kept (a repeat answers the same). */
  answers: Pick<AnswerRecords, "record" | "delivered">;
  log: Logger;
  metrics: Pick<NotifierMetrics, "stored" | "deduplicated" | "publishFailed">;
  lastSeqCacheSize?: number;
}

/** A stored (or found) notification as the live event carries it, and how to answer. */
interface Announced {
  outcome: Outcome;
  /** A new notification whose request waits for delivery: subscribed to its receipts. */
  receipt?: Subscription;
  /** A keyed request: its dedup id (where a first answer that waited is recorded). */
  keyed?: string;
  /**
   * An idempotent repeat: when the first was stored and how long its request waited for delivery
   * (undefined: it did not wait); undefined altogether when the first is no longer in the inbox.
   */
  first?: { storedAt: number; waitMs: number | undefined };
}

/**
 * The publish flow: store the notification in the user's subject with prev_seq enforced by JetStream
 * (Nats-Expected-Last-Subject-Sequence), then publish the live event; optionally wait for a receipt.
 * One user's sends run one at a time in this process; other processes are kept honest by JetStream.
 */
export class Publisher {
  private readonly lastSeq: LruMap<string, number>;
  private readonly perUser = new KeyedSerializer<string>();

  constructor(private readonly deps: PublishDeps) {
    this.lastSeq = new LruMap(deps.lastSeqCacheSize ?? LAST_SEQ_CACHE_SIZE);
    // Seqs start again in a new inbox: what we remember of the old one is worthless.
    deps.store.onEpochChange(() => this.lastSeq.clear());
  }

  /** True while connected to NATS and the stream is in place. */
  ready(): boolean {
    return this.deps.connected() && this.deps.store.ready;
  }

  /** Stores and announces one validated request; never throws. */
  async send(req: NotifyRequest): Promise<Outcome> {
    if (!this.deps.connected()) return unavailable("not connected to NATS; retry shortly");
    const queued = performance.now();
    let done: Announced;
    try {
      done = await this.perUser.run(req.user_id, () => this.inTurn(req, queued));
    } catch (err) {
      return this.failure(req.user_id, err);
    }
    const { outcome, receipt, keyed, first } = done;
    if (outcome.status === 202 && receipt) {
      const answer = { ...outcome.body, delivered: await waitForReceipt(receipt, req.wait_for_delivery_ms ?? 0) };
      // Recorded before it is given, so a repeat that comes after this answer finds it.
      if (keyed !== undefined) await this.deps.answers.record(keyed, answer);
      outcome.body = answer;
    } else if (outcome.status === 200 && keyed !== undefined && req.wait_for_delivery_ms !== undefined) {
      outcome.body = { ...outcome.body, delivered: await this.firstDelivered(keyed, outcome.body.seq, first) };
    }
    return outcome;
  }

  /**
   * What the first request of a repeat was told about delivery: its recorded answer, awaited while
   * it may still be waiting (until its wait is over, plus RECORD_GRACE_MS). False when the first did
   * not wait for delivery, or never recorded an answer (its notifier stopped meanwhile).
   */
  private async firstDelivered(keyed: string, seq: number, first: Announced["first"]): Promise<boolean> {
    if (first !== undefined && first.waitMs === undefined) return false;
    const until = first === undefined ? 0 : first.storedAt + first.waitMs! + RECORD_GRACE_MS;
    return (await this.deps.answers.delivered(keyed, seq, until)) ?? false;
  }

  /** Runs when no other send for this user is in flight in this process. */
  private async inTurn(req: NotifyRequest, queued: number): Promise<Announced> {
    // NATS may have gone while this request waited, or earlier sends may have used up their
    // timeouts: fail fast then, rather than queue for minutes behind a stalled server.
    if (!this.deps.connected()) return { outcome: unavailable("not connected to NATS; retry shortly") };
    if (performance.now() - queued > STORE_TIMEOUT_MS) return { outcome: unavailable("notification store is slow; retry shortly") };

    const { store, log } = this.deps;
    const subject = userStoreSubject(req.user_id);
    // A keyed request's id and dedup id follow from (user, key): a repeat is answered with the
    // same id even once the first is trimmed from the inbox. Unkeyed requests take no dedup entry.
    const keyed = req.idempotency_key === undefined ? undefined : idempotencyMsgId(req.user_id, req.idempotency_key);
    const id = keyed === undefined ? randomBytes(16).toString("base64url") : Buffer.from(keyed, "hex").toString("base64url").slice(0, 22);
    const created_at = new Date().toISOString();
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      let prev_seq: number;
      try {
        prev_seq = this.lastSeq.get(req.user_id) ?? (await store.lastSeq(subject));
      } catch (err) {
        if (!(await this.mayRetry(err, true, started))) throw err; // a read stores nothing: always safe to repeat
        await Bun.sleep(100 + Math.random() * 150);
        continue;
      }
      const n: StoredNotification = { id, user_id: req.user_id, body: req.body, created_at, prev_seq };
      if (req.title !== undefined) n.title = req.title;
      if (req.data !== undefined) n.data = req.data;
      // Serialized once. `data` serialized again may be larger than it came (`1e20` is 21 bytes):
      // refused here rather than stored and dropped by every gateway.
      const payload = JSON.stringify(n);
      const over = bytesOver(payload, MAX_STORED_NOTIFICATION_BYTES);
      if (over !== undefined) return { outcome: failed(413, `the notification is ${over} bytes as stored; at most ${MAX_STORED_NOTIFICATION_BYTES}`) };
      let ack: PubAck;
      try {
        // A keyed request may be repeated: the repeat reads how long this one waits for delivery.
        ack = await store.append(subject, payload, prev_seq, keyed, keyed === undefined ? undefined : req.wait_for_delivery_ms);
      } catch (err) {
        this.lastSeq.delete(req.user_id);
        if (err instanceof NotificationTooLargeError) throw err;
        if (err instanceof WrongLastSequenceError && attempt < MAX_SEQ_ATTEMPTS) {
          log.debug({ attempt, prev_seq }, "the user's last seq moved (another writer); re-reading");
          await Bun.sleep(Math.random() * 5 * attempt);
          continue;
        }
        if (!(await this.mayRetry(err, keyed !== undefined, started))) throw err;
        log.debug({ attempt, err: String(err) }, "JetStream did not take the notification; trying again");
        await Bun.sleep(100 + Math.random() * 150);
        continue;
      }
      if (!ack.duplicate) {
        this.deps.metrics.stored();
        this.lastSeq.set(req.user_id, ack.seq);
        return { ...this.announce(req, { ...n, seq: ack.seq }, 202), ...(keyed === undefined ? {} : { keyed }) };
      }
      // A repeated key: nothing new was stored; the ack carries the first message's seq.
      this.deps.metrics.deduplicated();
      const first = await store.read(ack.seq);
      if (first === null) {
        log.info({ seq: ack.seq }, "idempotent repeat of a notification no longer in the inbox; answered without announcing");
        return { outcome: { status: 200, body: this.answer(id, ack.seq) }, keyed: keyed! };
      }
      return { ...this.announce(req, { ...first.notification, seq: ack.seq }, 200), keyed: keyed!, first: { storedAt: first.storedAt, waitMs: first.waitMs } };
    }
  }

  /**
   * True when a failed attempt may be repeated: within the budget, still connected, and it cannot
   * store twice. Nobody answering the stream's subject stored nothing: that is a leader being
   * elected (retry) unless the stream is gone (answered 503 at once; the write path re-creates it).
   */
  private async mayRetry(err: unknown, repeatable: boolean, started: number): Promise<boolean> {
    if (!this.deps.connected() || performance.now() - started > SEND_BUDGET_MS) return false;
    if (isNoStream(err)) return (await this.deps.store.exists()) !== false;
    return repeatable && isNatsFailure(err);
  }

  /** The answer body: id, seq, and the inbox's epoch when known. */
  private answer(id: string, seq: number): NotifyAnswer {
    const epoch = this.deps.store.epoch;
    return epoch === undefined ? { id, seq } : { id, seq, epoch };
  }

  /**
   * Publishes the live event (after subscribing to receipts when asked) and builds the answer. A
   * live event published while NATS is disconnected is lost (the client drops its buffer on
   * reconnect): counted as a failed publish, as is one that throws.
   */
  private announce(req: NotifyRequest, stored: StoredNotification & { seq: number }, status: 200 | 202): Announced {
    const { nc, log, store, metrics } = this.deps;
    const live: LiveNotification = store.epoch === undefined ? stored : { ...stored, epoch: store.epoch };
    const outcome: Outcome = { status, body: this.answer(live.id, live.seq) };
    // Subscribe before the live event goes out, so a fast gateway's receipt is not missed. A repeat
    // waits for no receipt (a socket that has it already does not acknowledge it again): it is told
    // what the first request was.
    const receipt = req.wait_for_delivery_ms === undefined || status === 200 ? undefined : nc.subscribe(deliveredSubject(live.id), { max: 1 });
    try {
      nc.publish(userLiveSubject(live.user_id), JSON.stringify(live));
    } catch (err) {
      metrics.publishFailed();
      throw err;
    }
    if (!this.deps.connected()) metrics.publishFailed();
    log.debug({ id: live.id, seq: live.seq, status }, "notification stored and announced");
    return receipt ? { outcome, receipt } : { outcome };
  }

  private failure(userId: string, err: unknown): Outcome {
    this.lastSeq.delete(userId);
    const { log, store } = this.deps;
    if (err instanceof NotificationTooLargeError) return failed(413, err.message);
    if (err instanceof WrongLastSequenceError) {
      log.warn({ err: err.message }, "gave up after repeated concurrent writes for one user");
      return unavailable("too many concurrent writes for this user; retry shortly");
    }
    if (isNoStream(err) || (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) {
      store.streamLost(String(err));
      return unavailable("notification store unavailable; retry shortly");
    }
    if (isNatsFailure(err)) {
      log.warn({ err: String(err) }, "notification not stored");
      return unavailable("notification store did not answer; retry shortly");
    }
    log.error({ err }, "unexpected error while publishing");
    return failed(500, "internal error");
  }
}

/** The dedup id for a keyed request: scoped to the user, so two users' keys never collide. */
export function idempotencyMsgId(userId: string, key: string): string {
  return createHash("sha256").update(`${userId}\u0000${key}`, "utf8").digest("hex");
}

/** No stream answered the publish (JetStream down, or the stream deleted): `JetStreamNotEnabled`, not exported by name. */
function isNoStream(err: unknown): err is Error {
  return err instanceof Error && err.name === "JetStreamNotEnabled";
}

/** Errors meaning NATS or JetStream could not take the write now (not a bug): answered with 503. */
function isNatsFailure(err: unknown): boolean {
  return (
    err instanceof JetStreamError ||
    err instanceof JetStreamApiError ||
    err instanceof errors.TimeoutError ||
    err instanceof errors.RequestError ||
    err instanceof errors.ClosedConnectionError ||
    err instanceof errors.DrainingConnectionError ||
    err instanceof errors.ConnectionError ||
    err instanceof errors.NoRespondersError
  );
}

/** Resolves true when a receipt arrives within `ms`, false otherwise; always unsubscribes. */
async function waitForReceipt(sub: Subscription, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const first = (async () => {
    for await (const _ of sub) return true;
    return false;
  })();
  try {
    return await Promise.race([first, timeout]);
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
}
