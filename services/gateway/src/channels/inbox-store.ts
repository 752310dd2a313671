import type { Broker } from "../broker/broker.ts";
import { streamGet, type MsgQuery } from "./stream-get.ts";
import { streamRead, type ReadMsg } from "./stream-read.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });
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
  /** The user's stored notifications with seq >= `fromSeq`, oldest first, read as they are consumed (stop early with `break`). */
  read(userId: string, fromSeq: number): AsyncIterable<StoredEntry>;
}

/** The store on JetStream: single-message gets by subject (nats-server 2.9 and later: no batch get). */
export class JetStreamNotificationStore implements NotificationStore {
  constructor(private readonly broker: Broker, private readonly onInvalid: (seq: number) => void) {}

  async last(userId: string): Promise<StoredEntry | undefined> {
    const m = await this.get({ last_by_subj: userStoreSubject(userId) });
    return m ? this.entry(userId, m) : undefined;
  }

  async at(userId: string, seq: number): Promise<StoredEntry | undefined> {
    const m = await this.get({ seq });
    return m ? this.entry(userId, m) : undefined;
  }

  async *read(userId: string, fromSeq: number): AsyncGenerator<StoredEntry> {
    for await (const m of streamRead(this.broker, NOTIFICATIONS_STREAM, userStoreSubject(userId), fromSeq)) {
      const e = this.entry(userId, m);
      if (e) yield e;
    }
  }

  private get(query: MsgQuery): Promise<ReadMsg | null> {
    return streamGet(this.broker, NOTIFICATIONS_STREAM, query);
  }

  /** The entry when `m` is a valid notification of `userId`; anything else is counted and skipped. */
  private entry(userId: string, m: ReadMsg): StoredEntry | undefined {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(m.data));
    } catch {
      value = undefined;
    }
    if (storedNotification.check(value) && depthWithin(value.data)) {
      // A seq of another user (`at` with a seq from a chain) is not an error, just not ours.
      return value.user_id === userId ? { seq: m.seq, at: m.at, notification: value } : undefined;
    }
    this.onInvalid(m.seq);
    return undefined;
  }
}
