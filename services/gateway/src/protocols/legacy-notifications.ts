import { inboxSub, type Inbox } from "../channels/inbox.ts";
import type { NotificationsData } from "./socket-data.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { EXPIRED, SLOW, closeForRate, goingAway, internalError } from "./legacy-codes.ts";
import { closeIfOver, type SocketLimits } from "./limits.ts";

/** `/notifications`: one inbox subscription per socket; a socket that cannot keep up is closed with 1013 (it resumes with `since`). */
export function legacyNotificationsAdapter(inbox: Inbox, limits: SocketLimits): ProtocolAdapter<NotificationsData> {
  return {
    open(ws) {
      const sub = inboxSub(ws, ws.data.userId, "legacy", ws.data.start, () => ws.close(SLOW.code, SLOW.reason));
      ws.data.inbox = sub;
      inbox.open(sub);
    },
    message() {}, // what a notification socket sends is ignored
    overRate: closeForRate,
    drain(ws) {
      if (ws.data.inbox) inbox.drain(ws.data.inbox);
    },
    close(ws) {
      if (ws.data.inbox) inbox.close(ws.data.inbox);
    },
    sweep(ws, now) {
      if (closeIfOver(ws, now, limits, SLOW, EXPIRED)) ws.data.inbox?.cursor.close();
    },
    shutdown: goingAway,
    internalError,
  };
}
