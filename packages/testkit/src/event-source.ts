/**
 * A browser's `EventSource` for Bun (which has none), enough for centrifuge-js's SSE transport and
 * for reading `/connection/uni_sse` in tests: a GET with `Accept: text/event-stream`, parsed as the
 * HTML standard says (lines end with CRLF, LF or CR; `data:` lines joined with LF; a blank line
 * dispatches; `:` comments and other fields ignored; one optional space after the colon). No
 * reconnection: an error or the end calls `onerror` and closes, which is what the SDK expects
 * (it reconnects by itself). The browser's own is tested in Chromium (test/browser).
 */
export class TestEventSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = TestEventSource.CONNECTING;
  onopen: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent<string>) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  /** Every event's data, in order (what `onmessage` got). */
  readonly received: string[] = [];
  private readonly abort = new AbortController();

  constructor(readonly url: string, _init?: unknown) {
    void this.run();
  }

  close(): void {
    this.readyState = TestEventSource.CLOSED;
    this.abort.abort();
  }

  private async run(): Promise<void> {
    try {
      const res = await fetch(this.url, { headers: { Accept: "text/event-stream" }, signal: this.abort.signal });
      if (res.status !== 200 || !(res.headers.get("content-type") ?? "").startsWith("text/event-stream") || !res.body) throw new Error(`not an event stream: ${res.status}`);
      if (this.readyState === TestEventSource.CLOSED) return;
      this.readyState = TestEventSource.OPEN;
      this.onopen?.(new Event("open"));
      const decoder = new TextDecoder();
      let buf = "";
      let data: string[] = [];
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (;;) {
          const m = /\r\n|\n|\r/.exec(buf);
          // A lone CR at the end may be the first half of a CRLF: wait for more.
          if (!m || (m[0] === "\r" && m.index === buf.length - 1)) break;
          const line = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          if (line === "") {
            if (data.length > 0 && this.readyState === TestEventSource.OPEN) {
              const text = data.join("\n");
              this.received.push(text);
              this.onmessage?.(new MessageEvent("message", { data: text }));
            }
            data = [];
            continue;
          }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let v = colon < 0 ? "" : line.slice(colon + 1);
          if (v.startsWith(" ")) v = v.slice(1);
          if (field === "data") data.push(v);
        }
      }
      throw new Error("the stream ended");
    } catch {
      if (this.readyState === TestEventSource.CLOSED) return;
      this.readyState = TestEventSource.CLOSED;
      this.onerror?.(new Event("error"));
    }
  }
}
