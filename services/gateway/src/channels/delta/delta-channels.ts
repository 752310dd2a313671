import type { EncodingName, ProtocolPublication, PushEncoding } from "../../protocols/centrifugo/push.ts";
import type { Sink } from "../sink.ts";
import { DeltaFanout, type DeltaRecovery } from "./delta-fanout.ts";
import type { Frame, PublicationMeta } from "./delta-frames.ts";

/**
 * The Fossil delta subscribers of one hub's channels on this gateway: a DeltaFanout per channel
 * while it has one (made at the first, dropped with the last: a channel nobody here reads as
 * deltas costs one map lookup per publication). The hub passes every publication it fans out of
 * such a channel through `publish`, in its order, and calls `forget` when the channel starts over.
 */
export class DeltaChannels {
  private readonly fanouts = new Map<string, DeltaFanout>();

  constructor(
    /** Writes one frame to a Bun topic (the hub's topic publish). */
    private readonly write: (topic: string, frame: Frame) => void,
  ) {}

  /** True when `channel` has delta subscribers here (the hub then prepares its publications' JSON). */
  has(channel: string): boolean {
    return this.fanouts.has(channel);
  }

  /** Delta subscribers of `channel` here in `enc` (they need no plain frame). */
  count(channel: string, enc: EncodingName): number {
    return this.fanouts.get(channel)?.sizeOf(enc) ?? 0;
  }

  /** The channel's next publication (`data`: its value, serialized here once), a delta when `asDelta` (the stored `delta` flag). */
  publish(channel: string, data: unknown, meta: PublicationMeta, asDelta: boolean): void {
    this.fanouts.get(channel)?.publish(JSON.stringify(data), meta, asDelta);
  }

  /** Recovered publications as a delta subscriber's reply carries them, and the base it then holds (see DeltaFanout.recovered); all whole when nobody here reads deltas yet. */
  recovered(channel: string, pubs: readonly ProtocolPublication[], enc: EncodingName): DeltaRecovery {
    return (this.fanouts.get(channel) ?? new DeltaFanout(channel, this.write)).recovered(pubs, enc);
  }

  /** A delta subscriber joins `channel`, right after its subscribe reply was written (`holds`: from recovered()). */
  join(channel: string, sink: Sink, enc: PushEncoding, holds: string | undefined): void {
    let f = this.fanouts.get(channel);
    if (!f) this.fanouts.set(channel, (f = new DeltaFanout(channel, this.write)));
    f.join(sink, enc, holds);
  }

  /** A delta subscriber leaves `channel`; the last one drops its state. */
  leave(channel: string, sink: Sink, enc: PushEncoding): void {
    const f = this.fanouts.get(channel);
    if (!f) return;
    f.leave(sink, enc);
    if (f.size === 0) {
      f.flush();
      this.fanouts.delete(channel);
    }
  }

  /** `channel` starts over (its stream's epoch changed, or publications may have been missed): the next publication goes whole. */
  forget(channel: string): void {
    this.fanouts.get(channel)?.forget();
  }
}
