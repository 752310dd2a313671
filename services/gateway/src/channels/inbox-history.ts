import { notificationFrame } from "@rt/protocol";
import type { NotificationStore } from "./inbox-store.ts";
import type { ProtocolPublication } from "../protocols/centrifugo/push.ts";

/** What `history` on `#<user>` asks: at most `limit` (-1: all kept, up to `max`), after `since` (or before it, newest first, with `reverse`). */
export interface InboxHistoryQuery {
  limit: number;
  since: number;
  reverse: boolean;
  max: number;
}

/**
 * A user's kept notifications as publications of `#<user>` (`offset` = seq, `data` = the
 * notification as `/notifications` frames it), for the client protocol's and the server API's
 * `history`; `epoch` is the inbox's (the caller knows it).
 */
export async function inboxHistory(store: NotificationStore, userId: string, epoch: string, q: InboxHistoryQuery): Promise<{ publications: ProtocolPublication[]; offset: number; epoch: string }> {
  const top = (await store.last(userId))?.seq ?? 0;
  const max = q.limit < 0 ? q.max : Math.min(q.limit, q.max);
  const pubs: ProtocolPublication[] = [];
  if (q.limit !== 0) {
    for await (const e of store.read(userId, q.reverse ? 1 : q.since + 1)) {
      if (q.reverse && q.since > 0 && e.seq >= q.since) break;
      pubs.push({ data: JSON.parse(notificationFrame(e.notification, e.seq, epoch)) as unknown, offset: e.seq });
      if (!q.reverse && pubs.length >= max) break;
    }
  }
  return { publications: q.reverse ? pubs.reverse().slice(0, max) : pubs, offset: top, epoch };
}
