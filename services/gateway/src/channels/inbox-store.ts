import type { StoredMsg } from "@nats-io/jetstream";
import type { Broker } from "../broker/broker.ts";
import { streamGet, type MsgQuery } from "./stream-get.ts";
import { NOTIFICATIONS_STREAM, depthWithin, storedNotification, userStoreSubject, type StoredNotification } from "@rt/protocol";

/** One stored notification, the seq the stream gave it and when the stream stored it (ms, the server's clock). */
export interface StoredEntry {
  seq: number;
  at: number;
  notification: StoredNotification;
}

/** Read access to the notifications stream (written by the notifier). Invalid entries are skipped. */
export interface NotificationStore {
  /** The user's newest stored notification, or undefined when there is none. */
  last(userId: string): Promise<StoredEntry | undefined>;
  /** The user's notification stored at exactly `seq`, or undefined when it is gone. */
  at(userId: string, seq: number): Promise<StoredEntry | undefined>;
  /** The user's next stored notification with seq >= `fromSeq`, or undefined at the end. */
  next(userId: string, fromSeq: number): Promise<StoredEntry | undefined>;
}

/** The store on JetStream: single-message gets by subject (nats-server 2.9 and later: no batch get). */
export class JetStreamNotificationStore implements NotificationStore {
  constructor(private readonly broker: Broker, private readonly onInvalid: (seq: number) => void) {}

  async last(userId: string): Promise<StoredEntry | undefined> {
    return this.entry(userId, await this.get({ last_by_subj: userStoreSubject(userId) }));
  }

  async at(userId: string, seq: number): Promise<StoredEntry | undefined> {
    return this.entry(userId, await this.get({ seq }));
  }

  async next(userId: string, fromSeq: number): Promise<StoredEntry | undefined> {
    const subject = userStoreSubject(userId);
    for (let seq = fromSeq; ; ) {
      const m = await this.get({ seq, next_by_subj: subject });
      if (!m) return undefined;
      const e = this.entry(userId, m);
      if (e) return e;
      seq = m.seq + 1;
    }
  }

  private get(query: MsgQuery): Promise<StoredMsg | null> {
    return streamGet(this.broker, NOTIFICATIONS_STREAM, query);
  }

  /** The entry when `m` is a valid notification of `userId`; anything else is counted and skipped. */
  private entry(userId: string, m: StoredMsg | null): StoredEntry | undefined {
    if (!m) return undefined;
    let value: unknown;
    try {
      value = m.json();
    } catch {
      value = undefined;
    }
    if (storedNotification.check(value) && depthWithin(value.data)) {
      // A seq of another user (`at` with a seq from a chain) is not an error, just not ours.
      return value.user_id === userId ? { seq: m.seq, at: m.time.getTime(), notification: value } : undefined;
    }
    this.onInvalid(m.seq);
    return undefined;
  }
}
