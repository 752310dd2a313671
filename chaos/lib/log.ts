/**
 * What a chaos run records: every publication made (acknowledged or not), and for every receiver
 * and channel what it was told (subscribed, recovered or not, disconnected) and what it received,
 * in order. Times are milliseconds since the run started, on one clock (this process).
 */

/** Where a publication came from. */
export type Source = "sdk" | "chat" | "api-http" | "api-nats" | "notify-http" | "notify-nats" | "marker";

/** One publication, identified by the unique id it carries in its data. */
export interface Publication {
  id: string;
  /** `chat:<room>` or `#<user>`. */
  channel: string;
  source: Source;
  /** Who sent it: one sequential sender (its `n` grow in send order), or one `/chat/` socket session. */
  publisher: string;
  /** Its place in the publisher's order. */
  n: number;
  /** When it was first sent. */
  sentAt: number;
  /** When its acknowledgement came (a publish reply, an API offset, a notification seq); undefined: never acknowledged. */
  ackedAt?: number;
  /** The offset (room) or seq (notification) the acknowledgement named. */
  offset?: number;
  /** True for a `/chat/` socket's frames: never acknowledged, yet one socket's frames keep their order. */
  sessionOrdered?: boolean;
}

/** What a receiver was told about one channel, or received on it. */
export type TrackEntry =
  /** Subscribed: the first time, or again after a disconnect (`recovered`: every publication missed meanwhile was delivered). */
  | { t: number; type: "subscribed"; recovered: boolean; wasRecovering: boolean; position?: { offset: number; epoch: string } }
  /** No longer subscribed (a disconnect; the SDK will subscribe again), with why. */
  | { t: number; type: "down"; reason: string }
  /** A publication received. */
  | { t: number; type: "pub"; id: string; offset: number | undefined };

/** One receiver's view of one channel. */
export interface Track {
  receiver: string;
  channel: string;
  /**
   * True for clients that recover after a disconnect (SDK clients, resuming `/notifications`
   * sockets): every down is followed by a subscribe that says whether it recovered. False for a
   * `/chat/` socket session, which ends at its first down (a reconnect is a new session).
   */
  recovers: boolean;
  entries: TrackEntry[];
}

/** A fault as it was carried out. */
export interface FaultRecord {
  /** When it began and ended (restored: restarted, reconnected, resumed). */
  at: number;
  end: number | undefined;
  kind: string;
  target: string;
}

/** Everything the checker reads. */
export interface ChaosLog {
  publications: Publication[];
  tracks: Track[];
  faults: FaultRecord[];
}

/** What one service process printed (its warnings and errors), kept for the event log file. */
export interface ServiceOutput {
  service: string;
  /** When it was collected: the process ended (restarted by a fault) or the run ended. */
  at: number;
  text: string;
}

/** The recorder the clients and senders write to while the run goes. */
export class EventLog implements ChaosLog {
  readonly publications: Publication[] = [];
  readonly tracks: Track[] = [];
  readonly faults: FaultRecord[] = [];
  readonly outputs: ServiceOutput[] = [];
  private readonly byId = new Map<string, Publication>();
  private readonly t0 = performance.now();

  /** Milliseconds since the run started. */
  now(): number {
    return Math.round((performance.now() - this.t0) * 10) / 10;
  }

  /** Records a publication as it is sent. */
  sent(p: Omit<Publication, "sentAt">): Publication {
    const pub: Publication = { ...p, sentAt: this.now() };
    this.publications.push(pub);
    this.byId.set(pub.id, pub);
    return pub;
  }

  /** Its acknowledgement came (only the first counts). */
  acked(pub: Publication, offset?: number): void {
    if (pub.ackedAt !== undefined) return;
    pub.ackedAt = this.now();
    if (offset !== undefined) pub.offset = offset;
  }

  /** A new receiver-channel track. */
  track(receiver: string, channel: string, recovers: boolean): Track {
    const t: Track = { receiver, channel, recovers, entries: [] };
    this.tracks.push(t);
    return t;
  }

  /** A fault begins; call the returned function when it is over. */
  fault(kind: string, target: string): () => void {
    const f: FaultRecord = { at: this.now(), end: undefined, kind, target };
    this.faults.push(f);
    return () => (f.end = this.now());
  }

  /** Keeps what a service process printed. */
  output(service: string, text: string): void {
    if (text.length > 0) this.outputs.push({ service, at: this.now(), text });
  }

  get(id: string): Publication | undefined {
    return this.byId.get(id);
  }
}
