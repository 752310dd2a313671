import type { Centrifuge, ClientInfo, PublicationContext, Subscription } from "centrifuge";
import { byId, clock, el, keepAtEnd } from "./dom.ts";
import { authorOf } from "./names.ts";
import { OrderedLog } from "./ordered.ts";

/** How many of the room's messages the page shows (history on open, then live). */
const SHOWN = 200;
/** Join/leave lines kept. */
const EVENTS_KEPT = 20;

interface Message {
  offset: number;
  text: string;
  user: string;
}

/** The text of a publication: `{"text"}` as `/chat/` sends it, anything else as JSON. */
const textOf = (data: unknown): string => (typeof data === "object" && data !== null && typeof (data as { text?: unknown }).text === "string" ? (data as { text: string }).text : JSON.stringify(data));

/**
 * The chat panel: `chat:<room>` with join/leave, history read when (re)subscribed without a full
 * recovery, the presence list, and an input that publishes `{"text"}` on Enter (so `/chat/<room>`
 * sockets see it too).
 */
export class ChatPanel {
  private readonly log = new OrderedLog<Message>(SHOWN);
  private readonly members = new Map<string, ClientInfo>();
  /** Join, leave and error lines, each shown after the message that was newest when it happened. */
  private events: Array<{ after: number; text: string }> = [];
  private readonly sub: Subscription;
  /** The room's epoch, from the last subscribe (publications carry only offsets). */
  private epoch = "";
  private readonly logEl = byId("chat-log");
  private readonly presenceEl = byId("presence");
  private readonly input = byId<HTMLInputElement>("chat-input");

  constructor(centrifuge: Centrifuge, room: string) {
    this.sub = centrifuge.newSubscription(`chat:${room}`, { joinLeave: true });
    this.sub.on("publication", (ctx) => this.onPublication(ctx));
    this.sub.on("subscribed", (ctx) => {
      this.epoch = ctx.streamPosition?.epoch ?? "";
      if (this.log.add(this.epoch, [])) this.render(); // a new epoch: what was shown is gone
      // Recovered: what was missed came as publications. Otherwise (first open, or too much missed): read the history.
      if (!ctx.recovered) void this.loadHistory();
      void this.loadPresence();
    });
    this.sub.on("join", (ctx) => this.onPresence("joined", ctx.info));
    this.sub.on("leave", (ctx) => this.onPresence("left", ctx.info));
    this.sub.on("error", (ctx) => this.event(`subscription error: ${ctx.error.message}`));
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.isComposing) void this.send();
    });
    this.sub.subscribe();
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    try {
      await this.sub.publish({ text });
    } catch (err) {
      this.input.value = text; // not sent: give it back
      this.event(`not sent: ${(err as Error).message ?? String(err)}`);
    }
  }

  private onPublication(ctx: PublicationContext): void {
    this.add(this.epoch, [ctx]);
  }

  private async loadHistory(): Promise<void> {
    try {
      const h = await this.sub.history({ limit: 50, reverse: true });
      this.add(h.epoch, h.publications);
    } catch (err) {
      this.event(`history unavailable: ${(err as Error).message ?? String(err)}`);
    }
  }

  private add(epoch: string, pubs: readonly PublicationContext[]): void {
    const entries = pubs.filter((p) => p.offset !== undefined).map((p) => ({ offset: p.offset!, text: textOf(p.data), user: authorOf(p.info) }));
    if (this.log.add(epoch, entries)) this.render();
  }

  private render(): void {
    keepAtEnd(this.logEl, () => {
      const rows: HTMLElement[] = this.events.filter((e) => e.after === 0).map((e) => el("li", e.text, "event"));
      for (const m of this.log.entries()) {
        const li = el("li");
        li.append(el("span", m.user, "author"), el("span", m.text), el("span", ` #${m.offset}`, "meta"));
        rows.push(li, ...this.events.filter((e) => e.after === m.offset).map((e) => el("li", e.text, "event")));
      }
      this.logEl.replaceChildren(...rows);
    });
  }

  private event(text: string): void {
    const newest = this.log.entries().at(-1)?.offset ?? 0;
    this.events = [...this.events.slice(-(EVENTS_KEPT - 1)), { after: newest, text: `${clock(Date.now())} ${text}` }];
    this.render();
  }

  private async loadPresence(): Promise<void> {
    try {
      const p = await this.sub.presence();
      this.members.clear();
      for (const [client, info] of Object.entries(p.clients)) this.members.set(client, info);
      this.renderPresence();
    } catch (err) {
      this.event(`presence unavailable: ${(err as Error).message ?? String(err)}`);
    }
  }

  private onPresence(what: "joined" | "left", info: ClientInfo): void {
    if (what === "joined") this.members.set(info.client, info);
    else this.members.delete(info.client);
    this.event(`${authorOf(info)} ${what}`);
    this.renderPresence();
  }

  private renderPresence(): void {
    const counts = new Map<string, number>();
    for (const info of this.members.values()) counts.set(authorOf(info), (counts.get(authorOf(info)) ?? 0) + 1);
    const names = [...counts].sort(([a], [b]) => a.localeCompare(b));
    this.presenceEl.replaceChildren(...names.map(([name, n]) => el("li", n > 1 ? `${name} ×${n}` : name)));
  }
}
