import type { Centrifuge, PublicationContext } from "centrifuge";
import { byId, clock, el } from "./dom.ts";
import { OrderedLog } from "./ordered.ts";
import { markAll, parseMark, unreadCount, type ReadMark } from "./unread.ts";

const SHOWN = 50;

interface Item {
  offset: number;
  title: string | undefined;
  body: string;
  at: number | undefined;
}

/** A stored notification as the inbox pushes it (`data` of a `#<user>` publication). */
function itemOf(p: PublicationContext): Item | undefined {
  if (p.offset === undefined || typeof p.data !== "object" || p.data === null) return undefined;
  const n = p.data as { title?: unknown; body?: unknown; created_at?: unknown };
  const at = typeof n.created_at === "string" ? Date.parse(n.created_at) : Number.NaN;
  return { offset: p.offset, title: typeof n.title === "string" ? n.title : undefined, body: typeof n.body === "string" ? n.body : JSON.stringify(n.body), at: Number.isFinite(at) ? at : undefined };
}

/**
 * The inbox panel: the user's notifications (`#<user>`, the server-side subscription made at
 * connect). The SDK recovers what a reconnect missed; after a reload the panel reads the inbox's
 * history. The read mark (epoch and offset) is kept in localStorage, so the unread count survives
 * a reload too.
 */
export class InboxPanel {
  private readonly log = new OrderedLog<Item>(SHOWN);
  private readonly channel: string;
  private readonly key: string;
  private mark: ReadMark | undefined;
  private epoch = "";
  private readonly list = byId("inbox");
  private readonly badge = byId("unread");

  constructor(private readonly centrifuge: Centrifuge, user: string, private readonly sendTest: () => Promise<string>) {
    this.channel = `#${user}`;
    this.key = `rt-demo:read:${user}`;
    this.mark = parseMark(localStorage.getItem(this.key));
    centrifuge.on("subscribed", (ctx) => {
      if (ctx.channel !== this.channel) return;
      this.epoch = ctx.streamPosition?.epoch ?? "";
      if (this.log.add(this.epoch, [])) this.render();
      if (!ctx.recovered) void this.loadHistory();
    });
    centrifuge.on("publication", (ctx) => {
      if (ctx.channel !== this.channel) return;
      this.add([ctx]);
    });
    byId("mark-read").addEventListener("click", () => this.markRead());
    const button = byId<HTMLButtonElement>("send-test");
    button.addEventListener("click", () => {
      button.disabled = true;
      void this.sendTest()
        .then((outcome) => (button.title = outcome))
        .finally(() => (button.disabled = false));
    });
    this.render();
  }

  private async loadHistory(): Promise<void> {
    try {
      const h = await this.centrifuge.history(this.channel, { limit: SHOWN, reverse: true });
      this.epoch = h.epoch;
      this.add(h.publications);
    } catch {
      // the inbox stream may be away; the live ones still arrive
    }
  }

  private add(pubs: readonly PublicationContext[]): void {
    const items = pubs.map(itemOf).filter((i): i is Item => i !== undefined);
    if (this.log.add(this.epoch, items)) this.render();
  }

  private markRead(): void {
    this.mark = markAll(this.epoch, this.log.entries().map((i) => i.offset), this.mark);
    localStorage.setItem(this.key, JSON.stringify(this.mark));
    this.render();
  }

  private render(): void {
    const entries = this.log.entries();
    const unread = unreadCount(this.log.currentEpoch, entries.map((i) => i.offset), this.mark);
    this.badge.textContent = String(unread);
    this.badge.classList.toggle("some", unread > 0);
    const isUnread = (i: Item) => !this.mark || this.mark.epoch !== this.epoch || i.offset > this.mark.offset;
    this.list.replaceChildren(
      ...entries.reverse().map((i) => {
        const li = el("li", "", isUnread(i) ? "unread" : "");
        if (i.title) li.append(el("b", `${i.title}: `));
        li.append(el("span", i.body), el("span", ` ${i.at ? clock(i.at) : ""} #${i.offset}`, "meta"));
        return li;
      }),
    );
    if (entries.length === 0) this.list.replaceChildren(el("li", "No notifications yet.", "event"));
  }
}
