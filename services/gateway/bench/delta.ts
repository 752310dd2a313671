/**
 * `bun run services/gateway/bench/delta.ts [--seed=N] [--pubs=N]`
 *
 * Fossil deltas on a document that changes a little each time (a ~4 KB scoreboard: one row's
 * points and trend per publication, names in several scripts): the bytes a delta subscriber gets
 * against a plain one, per encoding and on the wire (push frames as the gateway writes them), and
 * the time one publication's delta takes (computed once per channel, whatever the number of
 * subscribers). In-process, one core; `measureDelta` is what a bench scenario calls.
 */
import { Prng } from "@rt/testkit";
import { DeltaBase } from "../src/channels/delta/delta-base.ts";
import { deltaPublication } from "../src/channels/delta/delta-frames.ts";
import { fossilDelta } from "../src/channels/delta/fossil.ts";
import { protobufPushes } from "../src/protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes } from "../src/protocols/centrifugo/push.ts";

export interface DeltaMeasurement {
  /** The document's size, bytes of JSON (average over the run). */
  docBytes: number;
  publications: number;
  /** Data bytes: whole, and as deltas (their sum over the run). */
  dataBytes: { whole: number; delta: number };
  /** Push frame bytes over the run: a plain subscriber's, and a delta subscriber's, per encoding. */
  frameBytes: { json: { plain: number; delta: number }; protobuf: { plain: number; delta: number } };
  /** One publication's delta: microseconds (median and 99th percentile), the encoder alone and with the UTF-8 encoding of the data. */
  deltaMicros: { median: number; p99: number };
  nextMicros: { median: number; p99: number };
  /** The same on a document near the default size cap (64 KiB), and its size. */
  largeDeltaMicros: { median: number; p99: number };
  largeDocBytes: number;
}

type Board = { rev: number; rows: Array<{ id: number; team: string; points: number; trend: string }> };

function boards(seed: number, rows: number): () => Board {
  const rng = new Prng(seed);
  let board: Board = {
    rev: 0,
    rows: Array.from({ length: rows }, (_, id) => ({ id, team: `${rng.pick(["Ана", "Bo", "東京", "Zoë", "🚀 crew", "Ölçü", "Team"])} ${id}`, points: rng.int(0, 500), trend: "=" })),
  };
  return () => {
    board = structuredClone(board);
    board.rev++;
    const row = rng.pick(board.rows);
    row.points += rng.int(1, 5);
    row.trend = rng.pick(["+", "=", "-"]);
    return board;
  };
}

function percentiles(micros: number[]): { median: number; p99: number } {
  const s = [...micros].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { median: at(0.5), p99: at(0.99) };
}

/** Times `fn(i)` for i from 1 to count - 1 (each publication after the first), after a warm-up on the first 200. */
function time(count: number, fn: (i: number) => void): { median: number; p99: number } {
  for (let i = 1; i < Math.min(count, 200); i++) fn(i);
  const micros: number[] = [];
  for (let i = 1; i < count; i++) {
    const t = performance.now();
    fn(i);
    micros.push((performance.now() - t) * 1000);
  }
  return percentiles(micros);
}

export function measureDelta(opts: { seed?: number; publications?: number } = {}): DeltaMeasurement {
  const seed = opts.seed ?? 1;
  const n = opts.publications ?? 2000;
  const next = boards(seed, 75);
  const texts = Array.from({ length: n }, () => JSON.stringify(next()));
  const utf8 = new TextEncoder();

  const base = new DeltaBase();
  const m: DeltaMeasurement = {
    docBytes: 0,
    publications: n,
    dataBytes: { whole: 0, delta: 0 },
    frameBytes: { json: { plain: 0, delta: 0 }, protobuf: { plain: 0, delta: 0 } },
    deltaMicros: { median: 0, p99: 0 },
    nextMicros: { median: 0, p99: 0 },
    largeDeltaMicros: { median: 0, p99: 0 },
    largeDocBytes: 0,
  };
  for (let i = 0; i < n; i++) {
    const meta = { offset: i + 1, info: { user: "publisher", client: "c0ffee00-0000-4000-8000-000000000000" } };
    const pub = base.next(texts[i]!, meta.offset, true);
    const data = JSON.parse(texts[i]!) as unknown;
    m.docBytes += pub.bytes.length;
    m.dataBytes.whole += pub.bytes.length;
    m.dataBytes.delta += pub.delta?.bytes.length ?? pub.bytes.length;
    m.frameBytes.json.plain += utf8.encode(jsonPushes.frame("scores:board", { pub: { data, ...meta } }) as string).length;
    m.frameBytes.json.delta += utf8.encode(jsonPushes.frame("scores:board", { pub: deltaPublication("json", pub, meta) }) as string).length;
    m.frameBytes.protobuf.plain += protobufPushes.frame("scores:board", { pub: { data, ...meta } }).length;
    m.frameBytes.protobuf.delta += protobufPushes.frame("scores:board", { pub: deltaPublication("protobuf", pub, meta) }).length;
  }
  m.docBytes = Math.round(m.docBytes / n);

  const bytes = texts.map((t) => utf8.encode(t));
  m.deltaMicros = time(n, (i) => fossilDelta(bytes[i - 1]!, bytes[i]!));
  // DeltaBase.next as the fan-out calls it: the UTF-8 encoding of the data, and the delta.
  const timed = new DeltaBase();
  timed.next(texts[0]!, undefined, true);
  m.nextMicros = time(n, (i) => timed.next(texts[i]!, undefined, true));

  const nextLarge = boards(seed, 1200);
  const large = Array.from({ length: 1000 }, () => utf8.encode(JSON.stringify(nextLarge())));
  m.largeDeltaMicros = time(large.length, (i) => fossilDelta(large[i - 1]!, large[i]!));
  m.largeDocBytes = large.at(-1)!.length;
  return m;
}

if (import.meta.main) {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  const m = measureDelta({ seed: Number(arg("seed") ?? 1), publications: Number(arg("pubs") ?? 2000) });
  const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;
  const per = (v: number) => Math.round(v / m.publications);
  console.log(`document: ${m.docBytes} bytes of JSON, ${m.publications} publications, each one row changed`);
  console.log(`data:     whole ${per(m.dataBytes.whole)} B, delta ${per(m.dataBytes.delta)} B a publication: ${pct(m.dataBytes.delta, m.dataBytes.whole)} of the bytes (${pct(m.dataBytes.whole - m.dataBytes.delta, m.dataBytes.whole)} saved)`);
  for (const enc of ["json", "protobuf"] as const) {
    const f = m.frameBytes[enc];
    console.log(`${enc.padEnd(8)}  push frames: plain ${per(f.plain)} B, delta ${per(f.delta)} B a publication: ${pct(f.delta, f.plain)} (${pct(f.plain - f.delta, f.plain)} saved)`);
  }
  console.log(`delta:    ${m.deltaMicros.median} µs median, ${m.deltaMicros.p99} µs p99 a publication (encoder); ${m.nextMicros.median} / ${m.nextMicros.p99} µs with the UTF-8 encoding`);
  console.log(`large:    ${m.largeDocBytes} bytes: ${m.largeDeltaMicros.median} µs median, ${m.largeDeltaMicros.p99} µs p99 a publication`);
}
