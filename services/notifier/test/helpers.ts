import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NOTIFICATIONS_STREAM, type LiveNotification, type StoredNotification } from "@rt/protocol";
import { ServiceProcess, TestNats, NATS_ADMIN } from "@rt/testkit";

/** A nats-server, one notifier and a test NATS connection; `await using f = await Fixture.start()`. */
export class Fixture implements AsyncDisposable {
  private constructor(readonly nats: TestNats, readonly svc: ServiceProcess, readonly nc: NatsConnection) {}

  static async start(env: Record<string, string> = {}): Promise<Fixture> {
    const nats = await TestNats.start();
    try {
      const svc = await ServiceProcess.start("notifier", { NATS_URL: nats.url, ...env });
      const nc = await connect({ ...NATS_ADMIN, servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      return new Fixture(nats, svc, nc);
    } catch (err) {
      await nats[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** POSTs a JSON value (or raw text) to /notifications. */
  post(body: unknown, opts: PostOptions = {}): Promise<Answer> {
    return post(this.svc.http, body, opts);
  }

  /** Every notification stored for `subject`, in stream order. */
  stored(subject: string): Promise<Array<StoredNotification & { seq: number }>> {
    return storedOn(this.nc, subject);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.nc.close().catch(() => undefined);
    await this.svc[Symbol.asyncDispose]();
    await this.nats[Symbol.asyncDispose]();
  }
}

export interface PostOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  contentType?: string | null;
  /** Send `body` as-is (a string) instead of JSON-encoding it. */
  raw?: boolean;
}

export interface Answer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** POSTs to `${base}/notifications` and parses the JSON answer. */
export async function post(base: string, body: unknown, opts: PostOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.contentType !== null) headers["content-type"] = opts.contentType ?? "application/json";
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${base}/notifications`, { method: "POST", headers, body: opts.raw ? (body as string) : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

/** Reads every message of the stream on `subject` (tests only: walks the stream seq by seq). */
export async function storedOn(nc: NatsConnection, subject: string): Promise<Array<StoredNotification & { seq: number }>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(NOTIFICATIONS_STREAM);
  const out: Array<StoredNotification & { seq: number }> = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const m = await jsm.streams.getMessage(NOTIFICATIONS_STREAM, { seq });
    if (m && m.subject === subject) out.push({ ...(m.json() as StoredNotification), seq: m.seq });
  }
  return out;
}

/** Message count per subject in the stream. */
export async function subjectCounts(nc: NatsConnection): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(NOTIFICATIONS_STREAM, { subjects_filter: ">" });
  return info.state.subjects ?? {};
}

/** Collects live events on `subject`; resolves once the server knows the subscription. */
export async function liveEvents(nc: NatsConnection, subject: string): Promise<{ events: LiveNotification[]; next(timeoutMs?: number): Promise<LiveNotification> }> {
  const events: LiveNotification[] = [];
  const waiters: Array<() => void> = [];
  nc.subscribe(subject, {
    callback: (_err, msg) => {
      events.push(msg.json<LiveNotification>());
      for (const w of waiters.splice(0)) w();
    },
  });
  await nc.flush();
  let taken = 0;
  return {
    events,
    next(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no live event on ${subject}`)), timeoutMs);
        const check = () => {
          if (events.length > taken) {
            clearTimeout(timer);
            resolve(events[taken++]!);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
}

/** A unique user id per call, so tests sharing a fixture never see each other's notifications. */
let counter = 0;
export const uniqueUser = (prefix = "user"): string => `${prefix}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

/** One series of a Prometheus text: its name and labels, keys sorted (`rt_api_calls_total{code="202",method="notify",transport="http"}`). */
export function series(name: string, labels: Record<string, string | number> = {}): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? name : `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(",")}}`;
}

/** Every series of `GET ${base}/metrics` (keyed as `series()` spells them) with its value. */
export async function scrape(base: string): Promise<Map<string, number>> {
  const res = await fetch(`${base}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.set(series(m[1]!, labels), Number(m[3]));
  }
  return out;
}
