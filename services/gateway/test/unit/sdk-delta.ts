// The SDK's own Fossil applier, as the SDK runs it: each build's codec turns a publication of a
// delta subscription into its data and the base for the next one (`applyDeltaIfNeeded`, not part
// of the SDK's typed API). The applier itself is not exported; a client that never connects lends
// its codec.
import { Centrifuge } from "centrifuge";
import { Centrifuge as ProtobufCentrifuge } from "centrifuge/build/protobuf";

interface SdkCodec {
  applyDeltaIfNeeded(pub: { data: unknown; delta?: boolean }, prev: Uint8Array | undefined): { newData: unknown; newPrevValue: Uint8Array; isDelta: boolean };
}

const codecOf = (c: unknown): SdkCodec => (c as { _codec: SdkCodec })._codec;
const json = codecOf(new Centrifuge("ws://127.0.0.1:1/unused"));
const protobuf = codecOf(new ProtobufCentrifuge("ws://127.0.0.1:1/unused"));

/** One delta subscription as the SDK keeps it: the base, updated by every publication it reads. */
export class SdkDeltaReader {
  base: Uint8Array | undefined;
  deltas = 0;

  constructor(readonly encoding: "json" | "protobuf") {}

  /** The data the SDK hands the app for `pub` (JSON: the parsed value; Protobuf: bytes). Throws where the SDK would. */
  read(pub: { data: unknown; delta?: boolean }): unknown {
    const r = (this.encoding === "json" ? json : protobuf).applyDeltaIfNeeded(pub, this.base);
    this.base = r.newPrevValue;
    if (r.isDelta) this.deltas++;
    return r.newData;
  }
}

/** The SDK's applier on raw bytes: `delta` applied to `source` (the Protobuf build's path, which takes bytes as they are). */
export function sdkApply(source: Uint8Array, delta: Uint8Array): Uint8Array {
  return protobuf.applyDeltaIfNeeded({ data: delta, delta: true }, source).newData as Uint8Array;
}
