import type { JetStreamManager } from "@nats-io/jetstream";
import { NOTIFICATIONS_STREAM, depthWithin, storedNotification, userStoreSubject, type StoredNotification } from "@rt/protocol";

/** One stored notification and the seq the stream gave it. */
export interface StoredEntry {
  seq: number;
  notification: StoredNotification;
}

/** Read access to the notifications stream (written by the notifier). */
export interface NotificationStore {
  /** The seq of the user's newest stored notification (0 when there is none). */
  lastSeq(userId: string): Promise<number>;
  /** The user's next stored notification with seq >= `fromSeq`, or undefined at the end. Invalid entries are skipped. */
  next(userId: string, fromSeq: number): Promise<StoredEntry | undefined>;
}

/** The store on JetStream: single-message gets by subject (work on nats-server 2.9 and later, no batch get). */
export class JetStreamNotificationStore implements NotificationStore {
  constructor(private readonly jsm: JetStreamManager, private readonly onInvalid: (seq: number) => void) {}

  async lastSeq(userId: string): Promise<number> {
    const m = await this.jsm.streams.getMessage(NOTIFICATIONS_STREAM, { last_by_subj: userStoreSubject(userId) });
    return m?.seq ?? 0;
  }

  async next(userId: string, fromSeq: number): Promise<StoredEntry | undefined> {
    const subject = userStoreSubject(userId);
    for (let seq = fromSeq; ; ) {
      // MSG.GET takes {seq, next_by_subj} since 2.9; the client's type lists only the direct-get form.
      const query = { seq, next_by_subj: subject } as unknown as { seq: number };
      const m = await this.jsm.streams.getMessage(NOTIFICATIONS_STREAM, query);
      if (!m) return undefined;
      let value: unknown;
      try {
        value = m.json();
      } catch {
        value = undefined;
      }
      if (storedNotification.check(value) && value.user_id === userId && depthWithin(value.data)) return { seq: m.seq, notification: value };
      this.onInvalid(m.seq);
      seq = m.seq + 1;
    }
  }
}
