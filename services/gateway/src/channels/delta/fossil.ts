// The Fossil delta format (what centrifuge-js applies for subscriptions with `delta: 'fossil'`):
//
//   delta   := size "\n" command* checksum ";"
//   command := count "@" offset ","     copy `count` bytes of the source from `offset`
//            | count ":" bytes          insert the next `count` bytes of the delta
//
// Integers are written in base 64, most significant digit first, with the digits of DIGITS; the
// checksum is the sum (mod 2^32) of the target read as big-endian 32-bit words, a final partial
// word padded with zero bytes.
//
// The encoder follows Fossil's published algorithm: the source is cut into blocks of NHASH bytes,
// each indexed by a rolling hash; a window slides over the target, and where its hash names a
// source block the match is grown both ways, kept when the copy command is cheaper than inserting
// the bytes. One thing is added: a copy starts and ends on a UTF-8 character boundary of the
// target (it gives back at most 3 bytes at each end), so the inserted runs hold whole characters
// and the delta of a valid UTF-8 target is valid UTF-8 itself. The JSON protocol carries a delta
// as a JSON string, which the SDK turns back into bytes with TextEncoder: only a valid UTF-8
// delta survives that, so one delta serves JSON and Protobuf subscribers alike.

/** The width of a hashed block, in bytes. */
const NHASH = 16;
/** How many source blocks of one hash bucket are tried at one target position. */
const MAX_CANDIDATES = 250;
/** The digits of the format's integers, value 0 to 63. */
const DIGITS = new TextEncoder().encode("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~");
const NEWLINE = 0x0a;
const COPY = 0x40; // "@"
const COMMA = 0x2c; // ","
const INSERT = 0x3a; // ":"
const END = 0x3b; // ";"

/** A UTF-8 continuation byte (10xxxxxx): never the first byte of a character. */
const isContinuation = (b: number): boolean => (b & 0xc0) === 0x80;

/** How many base-64 digits `v` takes. */
function digitCount(v: number): number {
  let n = 1;
  for (let x = 64; v >= x; x *= 64) n++;
  return n;
}

/** The format's checksum of `bytes`. */
export function fossilChecksum(bytes: Uint8Array): number {
  let sum = 0;
  const whole = bytes.length & ~3;
  for (let i = 0; i < whole; i += 4) sum = (sum + ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!)) | 0;
  let tail = 0;
  for (let i = whole, shift = 24; i < bytes.length; i++, shift -= 8) tail |= bytes[i]! << shift;
  return (sum + tail) >>> 0;
}

/**
 * Scratch space, reused by every call (the encoder runs start to end synchronously, so calls never
 * overlap): allocating typed arrays per call cost more than the rest of a small delta. It grows to
 * the largest input diffed (the callers bound that: DeltaBase's `maxBaseBytes`) and stays.
 */
const scratch = { out: new Uint8Array(4096), head: new Int32Array(1024), chain: new Int32Array(1024) };

/** The delta being written, in the scratch buffer (grown when a delta needs more). */
class Output {
  private buf = scratch.out;
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = scratch.out = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  int(v: number): void {
    const n = digitCount(v);
    this.room(n);
    for (let i = n - 1; i >= 0; i--) {
      this.buf[this.length + i] = DIGITS[v % 64]!;
      v = Math.floor(v / 64);
    }
    this.length += n;
  }

  bytes(src: Uint8Array, from: number, to: number): void {
    this.room(to - from);
    if (to - from > 64) this.buf.set(src.subarray(from, to), this.length);
    else for (let i = from, at = this.length; i < to; i++, at++) this.buf[at] = src[i]!;
    this.length += to - from;
  }

  insert(src: Uint8Array, from: number, to: number): void {
    this.int(to - from);
    this.byte(INSERT);
    this.bytes(src, from, to);
  }

  copy(count: number, offset: number): void {
    this.int(count);
    this.byte(COPY);
    this.int(offset);
    this.byte(COMMA);
  }

  /** The delta, copied out of the scratch buffer. */
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/**
 * The hash of the NHASH bytes of `z` from `at`: two 16-bit sums, the bytes (low half) and the
 * bytes weighted NHASH down to 1 (high half), so that it rolls one byte at a time.
 */
function hashAt(z: Uint8Array, at: number): number {
  let a = 0;
  let b = 0;
  for (let i = 0; i < NHASH; i++) {
    const c = z[at + i]!;
    a += c;
    b += (NHASH - i) * c;
  }
  return (a & 0xffff) | ((b & 0xffff) << 16);
}

/** A bucket of the block index: the hash spread by a multiply, then reduced. */
const bucketOf = (hash: number, buckets: number): number => (Math.imul(hash, 0x9e3779b1) >>> 0) % buckets;

/**
 * A Fossil delta that turns `source` into `target`. It always decodes to `target`; it may be
 * longer than `target` when the two have little in common (the caller compares and sends the
 * target whole then). The cost grows with both lengths: bound them before calling.
 */
export function fossilDelta(source: Uint8Array, target: Uint8Array): Uint8Array {
  const lenSrc = source.length;
  const lenOut = target.length;
  const out = new Output();
  out.int(lenOut);
  out.byte(NEWLINE);

  const blocks = Math.floor(lenSrc / NHASH);
  let base = 0; // the target bytes before `base` are written
  if (blocks > 0) {
    // The index: for each bucket the last source block that hashes to it; each block chains to the one before.
    if (scratch.head.length < blocks) {
      scratch.head = new Int32Array(blocks * 2);
      scratch.chain = new Int32Array(blocks * 2);
    }
    const { head, chain } = scratch;
    for (let k = 0; k < blocks; k++) head[k] = -1;
    for (let k = 0; k < blocks; k++) {
      const bucket = bucketOf(hashAt(source, k * NHASH), blocks);
      chain[k] = head[bucket]!;
      head[bucket] = k;
    }

    while (base + NHASH < lenOut) {
      const h = hashAt(target, base);
      let a = h & 0xffff;
      let b = h >>> 16;
      let i = 0; // the window is target[base + i, base + i + NHASH)
      for (;;) {
        let bestCount = 0;
        let bestFrom = 0; // where in the target the best copy starts
        let bestOffset = 0;
        let tries = MAX_CANDIDATES;
        const at = base + i;
        for (let k = head[bucketOf(a | (b << 16), blocks)]!; k >= 0 && tries-- > 0; k = chain[k]!) {
          const src = k * NHASH;
          const maxFwd = Math.min(lenSrc - src, lenOut - at);
          let fwd = 0; // bytes matching from src / at onwards
          while (fwd < maxFwd && source[src + fwd] === target[at + fwd]) fwd++;
          const maxBack = Math.min(src, i);
          let back = 0; // bytes matching before them, not before `base`
          while (back < maxBack && source[src - back - 1] === target[at - back - 1]) back++;
          let from = at - back;
          let to = at + fwd;
          // Whole characters only: the copy neither starts nor ends inside one.
          for (let n = 0; n < 3 && from < to && isContinuation(target[from]!); n++) from++;
          for (let n = 0; n < 3 && to > from && to < lenOut && isContinuation(target[to]!); n++) to--;
          const count = to - from;
          const offset = src - (at - from);
          const cost = digitCount(from - base) + digitCount(count) + digitCount(offset) + 3;
          if (count >= cost && count > bestCount) {
            bestCount = count;
            bestFrom = from;
            bestOffset = offset;
          }
        }
        if (bestCount > 0) {
          if (bestFrom > base) out.insert(target, base, bestFrom);
          out.copy(bestCount, bestOffset);
          base = bestFrom + bestCount;
          break;
        }
        if (base + i + NHASH >= lenOut) {
          out.insert(target, base, lenOut);
          base = lenOut;
          break;
        }
        // Slide the window one byte.
        const gone = target[base + i]!;
        const come = target[base + i + NHASH]!;
        a = (a - gone + come) & 0xffff;
        b = (b - NHASH * gone + a) & 0xffff;
        i++;
      }
    }
  }
  if (base < lenOut) out.insert(target, base, lenOut);
  out.int(fossilChecksum(target));
  out.byte(END);
  return out.done();
}
