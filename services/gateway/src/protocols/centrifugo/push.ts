import type { centrifugo } from "@rt/protocol";

/** A publication as the client protocol carries it. */
export interface ProtocolPublication {
  /** A JSON value; for a delta subscriber (channels/delta), a string (JSON) or bytes (Protobuf) that the SDK reads itself. */
  data: unknown;
  info?: centrifugo.ClientInfo;
  offset?: number;
  /** `data` is a Fossil delta against the subscriber's previous publication (delta subscribers only). */
  delta?: boolean;
  /** The server API's `tags`. */
  tags?: Record<string, string>;
}

/** What a push on a channel carries: a publication, a join or a leave. */
export type PushBody = { pub: ProtocolPublication } | { join: { info: centrifugo.ClientInfo } } | { leave: { info: centrifugo.ClientInfo } };

/** The encodings a protocol client may speak. */
export type EncodingName = "json" | "protobuf";

/**
 * One encoding of the client protocol's pushes. A channel's pushes go to one Bun topic per
 * encoding (and kind: publications, or joins and leaves), each frame serialized once for all.
 */
export interface PushEncoding {
  readonly name: EncodingName;
  /** The Bun topic of `channel`'s publications in this encoding. */
  topic(channel: string): string;
  /** The Bun topic of `channel`'s joins and leaves in this encoding. */
  joinLeaveTopic(channel: string): string;
  /** One push frame. */
  frame(channel: string, body: PushBody): string | Uint8Array;
  /** A publication push whose data is JSON text already (a metrics sample, a notification): not serialized again. */
  publication(channel: string, dataJson: string, offset?: number): string | Uint8Array;
  /**
   * A publication push spliced from its stored form's JSON text (`{"data":…}` or `{"data":…,"info":…}`
   * and nothing else: the gateway's own, or one `isStoredForm` passed) and its offset (none in a
   * channel without history), neither parsed
   * nor serialized again. Absent where the encoding needs the publication read (Protobuf).
   */
  stored?(channel: string, storedJson: string, offset?: number): string;
  /** Several push frames as one frame (JSON: one per line; Protobuf: length-delimited one after another), as the SDKs read them. */
  join(frames: readonly (string | Uint8Array)[]): string | Uint8Array;
}

/** JSON pushes: `{"push":{"channel":…,"pub":{…}}}` in text frames. */
export const jsonPushes: PushEncoding = {
  name: "json",
  topic: (channel) => `c:${channel}`,
  joinLeaveTopic: (channel) => `cjl:${channel}`,
  frame: (channel, body) => JSON.stringify({ push: { channel, ...body } }),
  publication: (channel, dataJson, offset) => `{"push":{"channel":${JSON.stringify(channel)},"pub":{"data":${dataJson}${offset === undefined ? "" : `,"offset":${offset}`}}}}`,
  // `{"data":D,"info":I}` becomes `{"data":D,"info":I,"offset":N}`: the keys in toProtocol's order, as frame() writes them.
  stored: (channel, storedJson, offset) =>
    offset === undefined ? `{"push":{"channel":${JSON.stringify(channel)},"pub":${storedJson}}}` : `{"push":{"channel":${JSON.stringify(channel)},"pub":${storedJson.slice(0, -1)},"offset":${offset}}}}`,
  join: (frames) => frames.join("\n"),
};

/** Counts per encoding, for "does anyone here need this frame". */
export type PerEncoding = Record<EncodingName, number>;
export const noneYet = (): PerEncoding => ({ json: 0, protobuf: 0 });
