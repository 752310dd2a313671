import type { NatsConnection } from "@nats-io/transport-node";
import type { EventLog, Publication, Source } from "../lib/log.ts";
import type { Running } from "../lib/running.ts";

/** One try: acknowledged with an offset (room) or seq (notification), or refused (worth retrying or not) with why. */
export type Attempt = { ok: true; offset: number } | { ok: false; retry: boolean; why: string };

/** How one try is made: `channel` is `chat:<room>` or `#<user>`, `id` the publication's unique id (also its idempotency key). */
export type Send = (channel: string, id: string) => Promise<Attempt>;

/** How long a publication is retried before the sender gives up on it (it then stays unacknowledged). */
const GIVE_UP_MS = 20_000;
/** Pause between two tries of one publication. */
const RETRY_MS = 200;
/** Longest wait for one answer. */
const ANSWER_MS = 10_000;
const json = { "content-type": "application/json" };

/**
 * A backend that sends one publication at a time from `run` (the next once the last was
 * acknowledged or given up), retrying each with its idempotency key, so a retry after a lost
 * answer stores nothing new and is answered with the first one's offset or seq.
 */
export class BackendSender {
  private n = 0;
  /** Failed tries by reason (for the report). */
  readonly failures = new Map<string, number>();

  constructor(readonly name: string, readonly source: Source, private readonly send: Send, private readonly log: EventLog) {}

  /** Sends to `channels` in turn, one every `everyMs` or slower, until `running` ends. */
  async run(running: Running, channels: readonly string[], everyMs: number): Promise<void> {
    while (running.on) {
      await this.one(channels[this.n % channels.length]!);
      await running.sleep(everyMs);
    }
  }

  /** Sends one publication on `channel`, retried until acknowledged or GIVE_UP_MS passed. */
  async one(channel: string, source: Source = this.source): Promise<Publication> {
    const n = ++this.n;
    const pub = this.log.sent({ id: `${this.name}.${n}`, channel, source, publisher: this.name, n });
    const deadline = performance.now() + GIVE_UP_MS;
    for (;;) {
      let r: Attempt;
      try {
        r = await this.send(channel, pub.id);
      } catch (err) {
        r = { ok: false, retry: true, why: err instanceof Error ? err.message : String(err) };
      }
      if (r.ok) {
        this.log.acked(pub, r.offset);
        return pub;
      }
      this.failures.set(r.why, (this.failures.get(r.why) ?? 0) + 1);
      if (!r.retry || performance.now() > deadline) return pub;
      await Bun.sleep(RETRY_MS);
    }
  }
}

/** `POST /api/publish` on the notifier: `{channel, data: {text: id}, idempotency_key: id}`. */
export function apiOverHttp(notifier: string): Send {
  return async (channel, id) => {
    const r = await fetch(`${notifier}/api/publish`, { method: "POST", headers: json, body: JSON.stringify({ channel, data: { text: id }, idempotency_key: id }), signal: AbortSignal.timeout(ANSWER_MS) });
    if (r.status !== 200) return { ok: false, retry: r.status >= 500, why: `HTTP ${r.status}` };
    return apiAnswer(await r.json());
  };
}

/** `api.publish` over NATS (as the `backend` user), the same body. */
export function apiOverNats(nc: NatsConnection): Send {
  return async (channel, id) => {
    const m = await nc.request("api.publish", JSON.stringify({ channel, data: { text: id }, idempotency_key: id }), { timeout: ANSWER_MS });
    return apiAnswer(m.json());
  };
}

/** `POST /notifications`: `{user_id, body: id, idempotency_key: id}`. */
export function notifyOverHttp(notifier: string): Send {
  return async (channel, id) => {
    const r = await fetch(`${notifier}/notifications`, { method: "POST", headers: json, body: JSON.stringify(notification(channel, id)), signal: AbortSignal.timeout(ANSWER_MS) });
    if (r.status !== 200 && r.status !== 202) return { ok: false, retry: r.status >= 500, why: `HTTP ${r.status}` };
    return seqAnswer(await r.json());
  };
}

/** `notifier.send` over NATS (as the `backend` user), the same body. */
export function notifyOverNats(nc: NatsConnection): Send {
  return async (channel, id) => {
    const m = await nc.request("notifier.send", JSON.stringify(notification(channel, id)), { timeout: ANSWER_MS });
    const body = m.json() as { status?: unknown };
    if (typeof body.status === "number") return { ok: false, retry: body.status >= 500, why: `status ${body.status}` };
    return seqAnswer(body);
  };
}

const notification = (channel: string, id: string) => ({ user_id: channel.slice(1), body: id, idempotency_key: id });

/** `{result: {offset}}`, or `{error: {code}}`: 100 (internal) and 108 (not available) are worth a retry. */
function apiAnswer(body: unknown): Attempt {
  const b = body as { result?: { offset?: unknown }; error?: { code?: unknown } };
  if (typeof b.result?.offset === "number") return { ok: true, offset: b.result.offset };
  const code = b.error?.code;
  return { ok: false, retry: code === 100 || code === 108, why: `API error ${String(code)}` };
}

function seqAnswer(body: unknown): Attempt {
  const seq = (body as { seq?: unknown }).seq;
  return typeof seq === "number" ? { ok: true, offset: seq } : { ok: false, retry: false, why: `answer without seq: ${JSON.stringify(body).slice(0, 200)}` };
}

/** Publications per `batch` request of a flood (each `pad` bytes: the request stays under the API's 1 MiB). */
const FLOOD_BATCH = 128;

/**
 * Floods `channel` through the server API's `batch` (parallel publishes, 128 a request, each with
 * its idempotency key) until `more()` says stop or `max` were acknowledged: each publication is
 * acknowledged by its own reply's offset; one refused is sent again in the next request (same key).
 * All of one request are in flight at once, so no order is promised among them.
 */
export async function flood(notifier: string, log: EventLog, publisher: string, channel: string, pad: number, max: number, more: () => boolean): Promise<void> {
  const padding = "x".repeat(pad);
  let n = 0;
  let acked = 0;
  let retry: Publication[] = [];
  const deadline = performance.now() + GIVE_UP_MS;
  while (acked < max && (more() || retry.length > 0) && performance.now() < deadline) {
    const fresh = more() ? Math.min(FLOOD_BATCH - retry.length, max - acked - retry.length) : 0;
    const pubs = [...retry, ...Array.from({ length: Math.max(0, fresh) }, () => log.sent({ id: `${publisher}.${++n}`, channel, source: "api-http", publisher, n }))];
    retry = [];
    if (pubs.length === 0) break;
    const commands = pubs.map((p) => ({ publish: { channel, data: { text: p.id, pad: padding }, idempotency_key: p.id } }));
    let replies: unknown[] = [];
    try {
      const r = await fetch(`${notifier}/api/batch`, { method: "POST", headers: json, body: JSON.stringify({ commands, parallel: true }), signal: AbortSignal.timeout(ANSWER_MS) });
      if (r.status === 200) replies = ((await r.json()) as { replies?: unknown[] }).replies ?? [];
    } catch {
      // no answer: every one of them is tried again
    }
    for (const [i, p] of pubs.entries()) {
      const offset = (replies[i] as { publish?: { offset?: unknown } } | undefined)?.publish?.offset;
      if (typeof offset === "number") {
        log.acked(p, offset);
        acked++;
      } else retry.push(p);
    }
    if (retry.length > 0) await Bun.sleep(RETRY_MS);
  }
}
