import type { Socket } from "bun";

/**
 * A cheap HTTP/1.1 client for the load generator: one keep-alive connection, one request at a
 * time, the response read by Content-Length. A generator that spends less CPU per request than the
 * server leaves the shared cores to what is measured (Bun's fetch costs about 50 us a request here).
 */
export class RawHttp {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((r: { status: number; body: string }) => void) | undefined;
  private failWaiting: ((err: Error) => void) | undefined;

  private constructor(private readonly socket: Socket<undefined>, private readonly host: string) {}

  static async connect(url: string): Promise<RawHttp> {
    const u = new URL(url);
    let client: RawHttp | undefined;
    const socket = await Bun.connect({
      hostname: u.hostname,
      port: Number(u.port),
      socket: {
        data: (_s, chunk) => client!.onData(chunk),
        close: () => client?.failWaiting?.(new Error("connection closed")),
        error: (_s, err) => client?.failWaiting?.(err),
      },
    });
    client = new RawHttp(socket, u.host);
    return client;
  }

  /** POSTs `body` (JSON) to `path`; resolves with the status and the body text. */
  post(path: string, body: string): Promise<{ status: number; body: string }> {
    const { promise, resolve, reject } = Promise.withResolvers<{ status: number; body: string }>();
    this.waiting = resolve;
    this.failWaiting = reject;
    this.socket.write(`POST ${path} HTTP/1.1\r\nhost: ${this.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    return promise;
  }

  close(): void {
    this.socket.end();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const end = this.buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString("latin1");
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + length) return;
    const status = Number(head.slice(9, 12));
    const body = this.buf.subarray(end + 4, end + 4 + length).toString("utf8");
    this.buf = this.buf.subarray(end + 4 + length);
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ status, body });
  }
}
