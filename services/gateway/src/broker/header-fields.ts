import type { Msg } from "@nats-io/transport-node";

/**
 * Reads a few header fields of a message without building the client's MsgHdrs (whose decoding
 * cost about a tenth of a busy gateway's CPU: seven headers on every republished room message).
 * The header block is read from the client's message object when it has the expected shape, else
 * through `msg.headers` (so a client upgrade can only make this slower, never wrong).
 */
export function headerFields<K extends string>(msg: Msg, names: readonly K[]): Record<K, string> | undefined {
  const raw = rawHeaderBlock(msg);
  const out = {} as Record<K, string>;
  if (raw === undefined) {
    const h = msg.headers;
    if (!h) return undefined;
    for (const n of names) out[n] = h.get(n);
    return out;
  }
  const text = latin1.decode(raw);
  for (const n of names) out[n] = fieldOf(text, n);
  return out;
}

const latin1 = new TextDecoder("latin1");

/** The `NATS/1.0\r\n...\r\n\r\n` block, or undefined when the message has none or the client's shape is not the known one. */
function rawHeaderBlock(msg: Msg): Uint8Array | undefined {
  const m = msg as unknown as { _rdata?: unknown; _msg?: { hdr?: unknown } };
  const hdr = m._msg?.hdr;
  if (!(m._rdata instanceof Uint8Array) || typeof hdr !== "number") return undefined;
  return hdr > 0 ? m._rdata.subarray(0, hdr) : undefined;
}

/** `\r\n<name>:` per field name, built once (a template string per field per message showed in profiles). */
const needles = new Map<string, string>();

/** The value of field `name` in a header block ("" when absent); names match as written (our own and JetStream's are fixed). */
export function fieldOf(block: string, name: string): string {
  let needle = needles.get(name);
  if (needle === undefined) needles.set(name, (needle = `\r\n${name}:`));
  const at = block.indexOf(needle);
  if (at < 0) return "";
  const start = at + name.length + 3;
  const end = block.indexOf("\r\n", start);
  return block.slice(start, end < 0 ? block.length : end).trim();
}
