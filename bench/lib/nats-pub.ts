import type { Socket } from "bun";

/**
 * The least NATS client that can publish: CONNECT, PUB, and PING/PONG to know the server has
 * everything. The bench is not a workspace package, so it does not reach @nats-io from here;
 * the text protocol is small enough (https://docs.nats.io/reference/reference-protocols/nats-protocol).
 */
export class NatsPublisher {
  private buffer = "";
  private pongs: (() => void)[] = [];
  private failed: Error | undefined;
  private socket!: Socket<NatsPublisher>;
  private constructor() {}

  /** Connects to nats://host:port as `auth` (a user of deploy/nats/auth.conf) and waits for the first PONG. */
  static async connect(port: number, auth: { user: string; pass: string }, host = "127.0.0.1"): Promise<NatsPublisher> {
    const self = new NatsPublisher();
    self.socket = await Bun.connect<NatsPublisher>({
      hostname: host,
      port,
      data: self,
      socket: {
        data(s, buf) {
          s.data.onData(buf.toString("latin1"));
        },
        close(s) {
          s.data.fail(new Error("NATS connection closed"));
        },
        error(s, err) {
          s.data.fail(err);
        },
      },
    });
    self.socket.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, name: "bench", lang: "bun", version: "0", protocol: 1, user: auth.user, pass: auth.pass })}\r\n`);
    await self.flush();
    return self;
  }

  /** Publishes `payload` on `subject`. */
  publish(subject: string, payload: string): void {
    if (this.failed) throw this.failed;
    const bytes = Buffer.from(payload);
    this.socket.write(`PUB ${subject} ${bytes.byteLength}\r\n`);
    this.socket.write(bytes);
    this.socket.write("\r\n");
  }

  /** Resolves once the server has processed everything sent so far. */
  flush(timeoutMs = 5000): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("NATS flush timed out")), timeoutMs);
      this.pongs.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.write("PING\r\n");
    });
  }

  close(): void {
    this.socket.end();
  }

  private onData(text: string): void {
    this.buffer += text;
    for (let nl = this.buffer.indexOf("\r\n"); nl >= 0; nl = this.buffer.indexOf("\r\n")) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 2);
      if (line === "PING") this.socket.write("PONG\r\n");
      else if (line === "PONG") this.pongs.shift()?.();
      else if (line.startsWith("-ERR")) this.fail(new Error(`NATS: ${line}`));
    }
  }

  private fail(err: Error): void {
    this.failed ??= err;
  }
}
