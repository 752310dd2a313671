import type { EncodingName, ProtocolPublication, PushEncoding } from "../../protocols/centrifugo/push.ts";
import type { Delta, PreparedPublication } from "./delta-base.ts";

/** A publication's fields besides its data. */
export type PublicationMeta = Omit<ProtocolPublication, "data" | "delta">;

/**
 * `pub` whole, as a delta subscriber of `enc` reads it. JSON: `data` is the JSON text as a string
 * (the SDK parses it); Protobuf: its UTF-8 bytes. Either way the SDK keeps those bytes as the
 * base of the next delta.
 */
export function wholePublication(enc: EncodingName, pub: PreparedPublication, meta: PublicationMeta): ProtocolPublication {
  return { data: enc === "json" ? pub.json : pub.bytes, ...meta };
}

/** A delta as `enc` carries it (JSON: a string; Protobuf: bytes); undefined when there is none, or none `enc` can carry. */
export const deltaData = (enc: EncodingName, delta: Delta | undefined): string | Uint8Array | undefined => (enc === "json" ? delta?.text : delta?.bytes);

/** `pub` as a delta (`delta: true`) against the subscriber's previous publication when it has one `enc` can carry; whole otherwise. */
export function deltaPublication(enc: EncodingName, pub: PreparedPublication, meta: PublicationMeta): ProtocolPublication {
  const data = deltaData(enc, pub.delta);
  return data === undefined ? wholePublication(enc, pub, meta) : { data, ...meta, delta: true };
}

/** One push frame, as `PushEncoding.frame` builds it. */
export type Frame = string | Uint8Array;

/**
 * The push frames of `pub` on `channel` in `enc` for a channel's delta subscribers: `whole` for
 * those without a base yet (their first publication), `delta` for those holding the previous
 * publication. Only the frames `need` names are built, each serialized once; without a delta the
 * two are one frame.
 */
export function deltaFrames(enc: PushEncoding, channel: string, pub: PreparedPublication, meta: PublicationMeta, need: { whole: boolean; delta: boolean }): { whole?: Frame; delta?: Frame } {
  const out: { whole?: Frame; delta?: Frame } = {};
  const hasDelta = deltaData(enc.name, pub.delta) !== undefined;
  if (need.delta && hasDelta) out.delta = enc.frame(channel, { pub: deltaPublication(enc.name, pub, meta) });
  if (need.whole || (need.delta && !hasDelta)) {
    const whole = enc.frame(channel, { pub: wholePublication(enc.name, pub, meta) });
    if (need.whole) out.whole = whole;
    if (need.delta && !hasDelta) out.delta = whole;
  }
  return out;
}
