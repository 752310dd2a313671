import { Conditions } from "./conditions.ts";

/** A WebSocket test client that records every frame and the close event. */
export class TestSocket implements AsyncDisposable {
  readonly messages: string[] = [];
  closeCode: number | undefined;
  closeReason: string | undefined;
  private readonly conditions = new Conditions();
  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      this.messages.push(typeof e.data === "string" ? e.data : `<binary ${String((e.data as ArrayBuffer).byteLength)}>`);
      this.conditions.wake();
    });
    ws.addEventListener("close", (e) => {
      this.closeCode = e.code;
      this.closeReason = e.reason;
      this.conditions.wake();
    });
  }

  /** Opens a socket and waits for it to be open; rejects with the HTTP failure otherwise. */
  static open(url: string, opts: { headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<TestSocket> {
    const ws = new WebSocket(url, opts.headers ? ({ headers: opts.headers } as unknown as string[]) : undefined);
    const t = new TestSocket(ws);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`open timed out: ${url}`)), opts.timeoutMs ?? 5000);
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(t);
      }, { once: true });
      ws.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error(`could not open ${url}`));
      }, { once: true });
    });
  }

  /** Sends a text frame (objects are JSON-encoded). */
  send(data: string | object | Uint8Array): void {
    this.ws.send(typeof data === "string" || data instanceof Uint8Array ? data : JSON.stringify(data));
  }

  /** Waits until at least `n` frames have arrived; returns them. */
  async waitForMessages(n: number, timeoutMs = 5000): Promise<string[]> {
    await this.until(() => this.messages.length >= n, `${n} messages (have ${this.messages.length})`, timeoutMs);
    return this.messages;
  }

  /** Waits for the next frame after the ones already seen, parsed as JSON. */
  async nextJson<T = unknown>(timeoutMs = 5000): Promise<T> {
    const n = this.messages.length;
    await this.waitForMessages(n + 1, timeoutMs);
    return JSON.parse(this.messages[n]!) as T;
  }

  /** Waits for the close event and returns its code. */
  async closed(timeoutMs = 5000): Promise<number> {
    await this.until(() => this.closeCode !== undefined, "close", timeoutMs);
    return this.closeCode!;
  }

  close(code = 1000): void {
    this.ws.close(code);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }

  /** Waits until `cond` holds, re-checked on every frame and on the close. */
  until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return this.conditions.until(cond, what, timeoutMs);
  }
}

/** The HTTP status a WebSocket upgrade request gets (for rejected handshakes). */
export async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url.replace(/^ws/, "http"), {
    headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers },
  });
  return { status: res.status, body: await res.text() };
}
