import type { PushEncoding } from "../protocols/centrifugo/push.ts";

/** How much one batched frame may hold before it is written at once. */
export interface BatchLimits {
  maxPushes: number;
  maxBytes: number;
}

export const BATCH_LIMITS: BatchLimits = { maxPushes: 128, maxBytes: 64 * 1024 };

interface Pending {
  enc: PushEncoding;
  frames: Array<string | Uint8Array>;
  bytes: number;
}

/**
 * Client protocol pushes held until the end of the event-loop turn, then written as one frame per
 * topic (a channel in one encoding) with one topic publish: what arrived together from NATS goes
 * out together, so each socket gets one WebSocket frame and one write for many publications
 * instead of one each (the SDKs read several pushes from one frame: JSON one per line, Protobuf
 * length-delimited). Order is kept per topic. `flush(topic)` writes a topic's pushes at once: a
 * socket about to join the topic must not get pushes its subscribe reply already covered.
 */
export class PushBatcher {
  private pending = new Map<string, Pending>();
  private scheduled = false;

  constructor(
    /** Publishes one frame on a topic (Bun's `server.publish`, and the sweeper's count). */
    private readonly publish: (topic: string, frame: string | Uint8Array) => void,
    private readonly limits: BatchLimits = BATCH_LIMITS,
  ) {}

  /** Queues a push frame for `topic`; written by the end of this turn, or now when the batch is full. */
  add(topic: string, enc: PushEncoding, frame: string | Uint8Array): void {
    let p = this.pending.get(topic);
    if (!p) this.pending.set(topic, (p = { enc, frames: [], bytes: 0 }));
    p.frames.push(frame);
    p.bytes += frame.length;
    if (p.frames.length >= this.limits.maxPushes || p.bytes >= this.limits.maxBytes) return this.flush(topic);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /** Writes `topic`'s held pushes now. */
  flush(topic: string): void {
    const p = this.pending.get(topic);
    if (!p) return;
    this.pending.delete(topic);
    this.write(topic, p);
  }

  /** Writes everything held: the map is swapped for a fresh one, not copied (a copy of its keys per turn showed in profiles with many channels). */
  readonly flushAll = (): void => {
    this.scheduled = false;
    const all = this.pending;
    this.pending = new Map();
    for (const [topic, p] of all) this.write(topic, p);
  };

  private write(topic: string, p: Pending): void {
    this.publish(topic, p.frames.length === 1 ? p.frames[0]! : p.enc.join(p.frames));
  }

  /** Topics with pushes held. */
  get size(): number {
    return this.pending.size;
  }
}
