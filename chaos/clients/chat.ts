import type { EventLog } from "../lib/log.ts";
import type { Running } from "../lib/running.ts";

/**
 * A `/chat/{room}` socket (the article's endpoint: no acknowledgement, no recovery) that sends a
 * frame every `everyMs` and records what it receives. Each connection is a session of its own
 * (a track that ends at its close); when one closes, the next opens, on the next gateway when
 * its own refuses. A session counts as subscribed from the first frame it receives that can only
 * have come through the ROOMS stream (`viaStream`: a server API publication; a `/chat/` or SDK
 * publisher's text is written to its own gateway's `/chat/` sockets at once, before its gateway
 * has placed the room, e.g. while it is cut off from NATS): by then its gateway follows the room,
 * so everything sent later must reach it while it stays open.
 */
export class ChatSocket {
  private session = 0;
  private gateway: number;
  private ws: WebSocket | undefined;
  private n = 0;
  private readonly prefix: string;

  constructor(
    readonly name: string,
    readonly room: string,
    private readonly gateways: readonly string[],
    home: number,
    private readonly log: EventLog,
    /** True for the id of a publication that reaches `/chat/` sockets only through the ROOMS stream. */
    private readonly viaStream: (id: string) => boolean,
  ) {
    this.gateway = home;
    this.prefix = `Room ${room}: `;
  }

  /** Keeps a session open and sending until `running` ends. */
  async run(running: Running, everyMs: number): Promise<void> {
    while (running.on) {
      const opened = await this.open();
      if (!opened) {
        this.gateway = (this.gateway + 1) % this.gateways.length;
        await running.sleep(200);
        continue;
      }
      const closed = new Promise<void>((resolve) => opened.addEventListener("close", () => resolve(), { once: true }));
      const publisher = `chat-${this.name}#${this.session}`;
      while (running.on && opened.readyState === WebSocket.OPEN) {
        const id = `${publisher}.${++this.n}`;
        this.log.sent({ id, channel: `chat:${this.room}`, source: "chat", publisher, n: this.n, sessionOrdered: true });
        opened.send(id);
        await running.sleep(everyMs);
      }
      if (!running.on) return;
      await closed;
      await running.sleep(100);
    }
  }

  /** Closes the session open now (at the end of the run). */
  stop(): void {
    this.ws?.close();
  }

  private open(): Promise<WebSocket | undefined> {
    const session = ++this.session;
    const ws = new WebSocket(`${this.gateways[this.gateway]}/chat/${this.room}`);
    const track = this.log.track(`chat-${this.name}#${session}`, `chat:${this.room}`, false);
    let subscribed = false;
    ws.addEventListener("message", (e) => {
      const text = String(e.data);
      const t = this.log.now();
      const id = text.startsWith(this.prefix) ? text.slice(this.prefix.length) : `?${text}`;
      if (!subscribed && this.viaStream(id)) {
        subscribed = true;
        track.entries.push({ t, type: "subscribed", recovered: false, wasRecovering: false });
      }
      track.entries.push({ t, type: "pub", id, offset: undefined });
    });
    return new Promise((resolve) => {
      ws.addEventListener("open", () => {
        this.ws = ws;
        resolve(ws);
      }, { once: true });
      ws.addEventListener("close", (e) => {
        track.entries.push({ t: this.log.now(), type: "down", reason: `closed ${e.code}` });
        resolve(undefined);
      }, { once: true });
    });
  }
}
