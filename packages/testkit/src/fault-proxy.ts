import { createServer, connect, type Server, type Socket } from "node:net";
import { freePort } from "./ports.ts";

/**
 * A TCP proxy in front of one upstream (a nats-server): give a service the proxy's URL and the
 * test can cut that one service's link, restore it, or slow it down, while every other service
 * keeps its own link. A cut closes every open connection and refuses new ones (accepted, then
 * closed at once) until `restore()`, as a partition does to a client that keeps redialling.
 */
export class FaultProxy implements AsyncDisposable {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private isCut = false;
  private delays = { toUpstream: 0, toClient: 0 };
  /** Connections accepted so far (refused ones included). */
  accepted = 0;
  private upstreamText = "";

  private constructor(private readonly server: Server, readonly port: number, private readonly upstreamPort: number) {
    server.on("connection", (client) => this.onConnection(client));
  }

  /** Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:`upstreamPort`. */
  static async start(upstreamPort: number): Promise<FaultProxy> {
    const port = await freePort();
    const server = createServer({ noDelay: true });
    const proxy = new FaultProxy(server, port, upstreamPort);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  /** nats://127.0.0.1:port */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Links open now. */
  get open(): number {
    return this.pairs.size;
  }

  /** True between `cut()` and `restore()`. */
  get cutOff(): boolean {
    return this.isCut;
  }

  /** Closes every open link and refuses new ones until `restore()`. */
  cut(): void {
    this.isCut = true;
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Accepts links again. */
  restore(): void {
    this.isCut = false;
  }

  /**
   * What the services sent toward the upstream since the last `mark()`, as text as it reached the
   * proxy (before any delay; NATS is a text protocol; the last 1 MiB): shows a request is on its way.
   */
  get sentToUpstream(): string {
    return this.upstreamText;
  }

  /** Starts `sentToUpstream` afresh. */
  mark(): void {
    this.upstreamText = "";
  }

  /** Holds every chunk `ms` before passing it on (0: none), both ways or one; order is kept. */
  delay(ms: number, direction: "both" | "toUpstream" | "toClient" = "both"): void {
    if (direction !== "toClient") this.delays.toUpstream = ms;
    if (direction !== "toUpstream") this.delays.toClient = ms;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: Socket): void {
    this.accepted++;
    if (this.isCut) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = connect({ host: "127.0.0.1", port: this.upstreamPort, noDelay: true });
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    this.forward(client, upstream, "toUpstream");
    this.forward(upstream, client, "toClient");
  }

  /** Copies `from` to `to` with backpressure; while a delay is set, each chunk waits its turn. */
  private forward(from: Socket, to: Socket, direction: "toUpstream" | "toClient"): void {
    let chain = Promise.resolve();
    from.on("data", (chunk: Buffer) => {
      if (direction === "toUpstream") this.upstreamText = (this.upstreamText + chunk.toString("latin1")).slice(-(1 << 20));
      const ms = this.delays[direction];
      if (ms === 0) {
        chain = chain.then(() => write(from, to, chunk));
        return;
      }
      const due = Date.now() + ms;
      chain = chain.then(async () => {
        const wait = due - Date.now();
        if (wait > 0) await Bun.sleep(wait);
        await write(from, to, chunk);
      });
    });
  }
}

/** Writes `chunk`, pausing `from` while `to` is full. */
function write(from: Socket, to: Socket, chunk: Buffer): Promise<void> {
  if (to.destroyed) return Promise.resolve();
  if (to.write(chunk)) return Promise.resolve();
  from.pause();
  return new Promise((resolve) =>
    to.once("drain", () => {
      from.resume();
      resolve();
    }),
  );
}
