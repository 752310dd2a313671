// The Fossil encoder against the SDK's own applier (centrifuge-js): every delta decodes to its
// target, and a text target's delta survives the JSON protocol's trip as a string.
import { describe, expect, test } from "bun:test";
import { Prng } from "@rt/testkit";
import { fossilChecksum, fossilDelta } from "../../src/channels/delta/fossil.ts";
import { SdkDeltaReader, sdkApply } from "./sdk-delta.ts";

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const seed = Prng.seedFromEnv();
const rng = new Prng(seed);

/** A JSON document of about `items` × 100 bytes, with `words` as its vocabulary. */
function document(r: Prng, items: number, words: readonly string[]): Record<string, unknown> {
  return {
    kind: "scoreboard",
    updated: r.int(0, 1e9),
    rows: Array.from({ length: items }, (_, i) => ({ id: i, name: `${r.pick(words)} ${r.pick(words)}`, score: r.int(0, 10_000), tags: [r.pick(words)] })),
  };
}

/** A small change: a few scores and a name. */
function touch(r: Prng, doc: Record<string, unknown>, words: readonly string[]): Record<string, unknown> {
  const next = structuredClone(doc) as { updated: number; rows: Array<{ name: string; score: number }> };
  next.updated++;
  for (let k = r.int(1, 3); k > 0; k--) r.pick(next.rows).score = r.int(0, 10_000);
  if (r.chance(0.5)) r.pick(next.rows).name = `${r.pick(words)} ${r.pick(words)}`;
  return next;
}

const ASCII = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
const CYRILLIC = ["альфа", "бета", "гамма", "дельта", "эпсилон", "дзета", "эта", "тэта"];
const CJK = ["天気", "今日", "東京", "大阪", "会議", "資料", "週末", "予定"];
const EMOJI = ["🚀", "🎉", "👍🏽", "🇫🇷", "é", "ß", "😀😃", "∑"];

describe(`fossilDelta (seed ${seed}: FUZZ_SEED=${seed} repeats it)`, () => {
  test("the format by hand: sizes and offsets in base 64, copy and insert commands, the checksum", () => {
    // 0 bytes: size 0, the checksum of nothing.
    expect(text(fossilDelta(utf8.encode("a source"), new Uint8Array()))).toBe("0\n0;");
    // A short source has no block to copy: one insert of the whole target.
    const small = fossilDelta(utf8.encode("abc"), utf8.encode("hello"));
    expect(text(small)).toBe(`5\n5:hello${digits(fossilChecksum(utf8.encode("hello")))};`);
    // The checksum: big-endian 32-bit words summed, a partial word padded with zeros.
    expect(fossilChecksum(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 2, 1]))).toBe(3 + 0x01000000);
    expect(fossilChecksum(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2]))).toBe(1);
    // An identical 100-byte target is one copy of everything: 100 is "1_" in base 64.
    const same = utf8.encode("x".repeat(36) + "0123456789".repeat(6) + "yyyy");
    expect(digits(100)).toBe("1_");
    expect(text(fossilDelta(same, same))).toBe(`1_\n1_@0,${digits(fossilChecksum(same))};`);
  });

  test("identical, empty and unrelated inputs", () => {
    const doc = utf8.encode(JSON.stringify(document(rng, 40, ASCII)));
    const same = fossilDelta(doc, doc);
    expect(same.length).toBeLessThan(20);
    expect(sdkApply(doc, same)).toEqual(doc);
    for (const [a, b] of [
      [new Uint8Array(), new Uint8Array()],
      [new Uint8Array(), doc],
      [doc, new Uint8Array()],
      [utf8.encode("x"), doc],
      [doc, utf8.encode("{}")],
      [rng.bytes(5000), rng.bytes(5000)],
    ] as const) expect(sdkApply(a, fossilDelta(a, b))).toEqual(b);
  });

  test("JSON documents changing a little each time: each delta decodes in a chain, as the SDK reads it, and is small", () => {
    for (const words of [ASCII, CYRILLIC, CJK, EMOJI]) {
      const reader = new SdkDeltaReader("json");
      let doc = document(rng, 40, words);
      let prev = utf8.encode(JSON.stringify(doc));
      expect(reader.read({ data: JSON.stringify(doc) })).toEqual(doc); // the first, whole
      let full = 0;
      let sent = 0;
      for (let i = 0; i < 200; i++) {
        doc = touch(rng, doc, words);
        const next = utf8.encode(JSON.stringify(doc));
        const delta = fossilDelta(prev, next);
        // Whole characters only: the delta is valid UTF-8, so a JSON string carries it intact.
        const asText = fromUtf8.decode(delta);
        expect(reader.read({ data: JSON.parse(JSON.stringify(asText)), delta: true })).toEqual(doc);
        full += next.length;
        sent += delta.length;
        prev = next;
      }
      expect(reader.deltas).toBe(200);
      expect(sent / full).toBeLessThan(0.15);
    }
  });

  test("random JSON values edited at random places: the delta of a valid UTF-8 target is valid UTF-8 and decodes", () => {
    for (let i = 0; i < 300; i++) {
      const a = JSON.stringify(rng.json(4));
      const b = rng.chance(0.3) ? JSON.stringify(rng.json(4)) : edit(a);
      const src = utf8.encode(a);
      const dst = utf8.encode(b);
      const delta = fossilDelta(src, dst);
      expect(fromUtf8.decode(delta)).toBeString();
      expect(sdkApply(src, delta)).toEqual(dst);
    }
  });

  test("text whose characters share their first bytes (Cyrillic, CJK, emoji): a copy never ends inside a character", () => {
    // "д" is D0 B4 and "е" D0 B5: a byte-wise match of "…д" against "…е" would stop after D0.
    const pairs = [
      ["дддддддддддддддддддддддддддддддддддддддддддддд", "ддддддддддддддддддддддедддддддддддддддддддддд"],
      ["東京東京東京東京東京東京東京東京東京東京東京東京東京東京", "東京東京東京東京東京東京東大東京東京東京東京東京東京東京"],
      ["😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀", "😀😀😀😀😀😀😀😀😀😃😀😀😀😀😀😀😀😀😀😀"],
    ];
    for (const [a, b] of pairs) {
      const delta = fossilDelta(utf8.encode(a!), utf8.encode(b!));
      const asText = fromUtf8.decode(delta);
      expect(asText).toContain("@"); // the unchanged parts are copied, not sent again
      expect(sdkApply(utf8.encode(a!), utf8.encode(asText))).toEqual(utf8.encode(b!));
    }
  });

  test("binary data (Protobuf carries bytes): random edits of random bytes decode", () => {
    for (let i = 0; i < 100; i++) {
      const a = rng.bytes(rng.int(0, 3000));
      const b = new Uint8Array(a);
      for (let k = rng.int(0, 5); k > 0 && b.length > 0; k--) b[rng.int(0, b.length - 1)] = rng.int(0, 255);
      const c = rng.chance(0.5) ? concat(b.subarray(0, b.length >> 1), rng.bytes(rng.int(0, 50)), b.subarray(b.length >> 1)) : b;
      expect(sdkApply(a, fossilDelta(a, c))).toEqual(c);
    }
  });

  test("large documents: over 1 MiB with a byte changed in the middle is a short delta", () => {
    const big = utf8.encode(JSON.stringify({ rows: Array.from({ length: 20_000 }, (_, i) => ({ i, v: `row ${i} ${"·".repeat(i % 50)}` })) }));
    expect(big.length).toBeGreaterThan(1 << 20);
    const edited = new Uint8Array(big);
    edited[big.length >> 1] = 0x31;
    const delta = fossilDelta(big, edited);
    expect(delta.length).toBeLessThan(100);
    expect(sdkApply(big, delta)).toEqual(edited);
    const appended = concat(big, utf8.encode(" and more"));
    expect(sdkApply(big, fossilDelta(big, appended))).toEqual(appended);
  });
});

/** `s` with a few characters replaced, inserted or removed (code points, so it stays valid text). */
function edit(s: string): string {
  const cps = [...s];
  for (let k = rng.int(1, 4); k > 0; k--) {
    const at = rng.int(0, cps.length);
    const op = rng.int(0, 2);
    if (op === 0) cps.splice(at, 0, ...rng.string(rng.int(1, 5)));
    else if (op === 1) cps.splice(at, 1);
    else cps.splice(at, 1, ...rng.string(1));
  }
  return cps.join("");
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `v` in the format's base 64. */
function digits(v: number): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~";
  let s = "";
  do {
    s = alphabet[v % 64] + s;
    v = Math.floor(v / 64);
  } while (v > 0);
  return s;
}
