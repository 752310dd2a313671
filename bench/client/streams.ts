/**
 * A client process for the transports scenario (bench/scenarios/transports.ts): opens many
 * client-protocol connections over one transport, each connected and subscribed to its room's
 * channel, and counts the publications they receive without parsing them. Driven over stdin and
 * stdout, one JSON object a line:
 *
 *   {"op":"open","transport":"ws"|"http_stream"|"sse"|"uni_sse","base":"http://127.0.0.1:8000","channels":["chat:a",…],"concurrency":64}
 *     → {"op":"opened","opened":n,"failed":n,"errors":[…]}
 *   {"op":"stats"} → {"op":"stats","deliveries":n,"lastAt":<Date.now() of the last>,"open":n,"ended":n}
 *   {"op":"reset"} → {"op":"reset"}      (zeroes the deliveries)
 *   {"op":"close"} → {"op":"closed"}     (closes every connection)
 *
 * Raw clients, not the SDK, so that the client side stays cheap: after the subscribe reply a
 * connection only counts newlines. A WebSocket frame carries replies one per line (a frame of k
 * lines is k deliveries); HTTP-streaming writes one reply a line; SSE one reply an event,
 * `data: <reply>\n\n` (two newlines a delivery). The streams subscribe through `POST /emulation`
 * with the `session` and `node` of their connect result, as the SDK does; `uni_sse` is connected
 * only (a unidirectional connection subscribes only server-side).
 *
 * Run with BUN_CONFIG_MAX_HTTP_REQUESTS raised: Bun's fetch keeps at most 256 requests in flight by default.
 */
export type StreamTransport = "ws" | "http_stream" | "sse" | "uni_sse";

interface Conn {
  close(): void;
}

const NL = 10;
let deliveries = 0;
let lastAt = 0;
let open = 0;
let ended = 0;
const conns: Conn[] = [];
const decoder = new TextDecoder();

function countNewlines(buf: Uint8Array): number {
  let n = 0;
  for (let i = buf.indexOf(NL); i !== -1; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

/** Opens one connection subscribed to `channel`; resolves once its subscribe reply (uni_sse: its connect push) arrived. */
function openOne(transport: StreamTransport, base: string, channel: string): Promise<void> {
  const connect = `{"id":1,"connect":{}}`;
  const subscribe = `{"id":2,"subscribe":{"channel":${JSON.stringify(channel)}}}`;
  if (transport === "ws") {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${base.replace(/^http/, "ws")}/connection/websocket`);
      let subscribed = false;
      ws.onopen = () => ws.send(`${connect}\n${subscribe}`);
      ws.onmessage = (e) => {
        const text = e.data as string;
        if (subscribed) {
          let n = 1;
          for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
          deliveries += n;
          lastAt = Date.now();
          return;
        }
        for (const line of text.split("\n")) {
          if (!line.startsWith(`{"id":2`)) continue;
          if (line.includes(`"error"`)) return reject(new Error(line));
          subscribed = true;
          open++;
          resolve();
        }
      };
      ws.onerror = () => reject(new Error("websocket error"));
      ws.onclose = (e) => {
        if (subscribed) {
          open--;
          ended++;
        } else reject(new Error(`websocket closed ${e.code}`));
      };
      conns.push({ close: () => ws.close() });
    });
  }
  const abort = new AbortController();
  conns.push({ close: () => abort.abort() });
  const sse = transport === "sse" || transport === "uni_sse";
  const url =
    transport === "http_stream"
      ? `${base}/connection/http_stream`
      : transport === "sse"
        ? `${base}/connection/sse?cf_connect=${encodeURIComponent(connect)}`
        : `${base}/connection/uni_sse`;
  const init: RequestInit =
    transport === "http_stream"
      ? { method: "POST", body: connect, headers: { "Content-Type": "application/json", Accept: "application/json" }, signal: abort.signal }
      : { signal: abort.signal };
  return (async () => {
    const res = await fetch(url, init);
    if (res.status !== 200 || !res.body) throw new Error(`${transport}: status ${res.status}`);
    const reader = res.body.getReader();
    // Until subscribed: cut lines and read the replies (SSE: `data: ` lines).
    let pending = "";
    let phase: "connect" | "subscribe" = "connect";
    let ready = false;
    while (!ready) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${transport}: ended before subscribed`);
      pending += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) !== -1) {
        let line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (sse) {
          if (!line.startsWith("data:")) continue;
          line = line.slice(5).trim();
        }
        if (!line) continue;
        if (transport === "uni_sse") {
          if (!line.startsWith(`{"connect"`)) throw new Error(`uni_sse: ${line.slice(0, 200)}`);
          ready = true;
          break;
        }
        const reply = JSON.parse(line) as { id?: number; error?: unknown; connect?: { session?: string; node?: string } };
        if (reply.error) throw new Error(`${transport}: ${line.slice(0, 200)}`);
        if (phase === "connect" && reply.id === 1) {
          const { session, node } = reply.connect ?? {};
          if (!session || !node) throw new Error(`${transport}: connect result without session or node`);
          phase = "subscribe";
          const em = await fetch(`${base}/emulation`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ session, node, data: subscribe }) });
          if (em.status !== 204) throw new Error(`${transport}: /emulation answered ${em.status} ${await em.text()}`);
        } else if (phase === "subscribe" && reply.id === 2) {
          ready = true;
          break;
        }
      }
    }
    open++;
    // Counting: nothing is published to the room before every member is subscribed, so no delivery is in `pending`.
    const per = sse ? 2 : 1;
    let carry = 0;
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const n = countNewlines(value) + carry;
          deliveries += Math.floor(n / per);
          carry = n % per;
          lastAt = Date.now();
        }
      } catch {
        // aborted on close
      }
      open--;
      ended++;
    })();
  })();
}

async function openAll(transport: StreamTransport, base: string, channels: string[], concurrency: number) {
  let opened = 0;
  let failed = 0;
  const errors: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < channels.length) {
      const ch = channels[next++]!;
      try {
        await openOne(transport, base, ch);
        opened++;
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, channels.length) }, lane));
  return { opened, failed, errors };
}

const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

let input = "";
for await (const chunk of Bun.stdin.stream()) {
  input += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = input.indexOf("\n")) !== -1) {
    const cmd = JSON.parse(input.slice(0, nl)) as { op: string; transport?: StreamTransport; base?: string; channels?: string[]; concurrency?: number };
    input = input.slice(nl + 1);
    if (cmd.op === "open") say({ op: "opened", ...(await openAll(cmd.transport!, cmd.base!, cmd.channels!, cmd.concurrency ?? 64)) });
    else if (cmd.op === "stats") say({ op: "stats", deliveries, lastAt, open, ended });
    else if (cmd.op === "reset") {
      deliveries = 0;
      lastAt = 0;
      say({ op: "reset" });
    } else if (cmd.op === "close") {
      for (const c of conns.splice(0)) c.close();
      say({ op: "closed" });
    }
  }
}
