import type { Broker } from "./broker.ts";

/**
 * Core NATS publishes of one event-loop turn, handed to the client together at the turn's end. The
 * NATS client writes its buffer to the socket in a microtask queued by the first publish into an
 * empty buffer, and microtasks run between WebSocket message handlers: a publish made in each
 * handler was one socket write each (about half a busy gateway's CPU in a 10-member room without
 * history, in its profile). Here a turn's publishes are one write, in the order they were made.
 */
export class TurnPublisher {
  private subjects: string[] = [];
  private payloads: Array<string | Uint8Array> = [];
  private scheduled = false;

  constructor(
    private readonly broker: Broker,
    /** Told how many queued publishes the link dropped before the turn ended (the broker took nothing). */
    private readonly dropped: (count: number) => void = () => undefined,
  ) {}

  /** Queues a publish for the end of this turn; false (nothing queued) while the link is down. */
  publish(subject: string, payload: string | Uint8Array): boolean {
    if (!this.broker.connected()) return false;
    this.subjects.push(subject);
    this.payloads.push(payload);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    return true;
  }

  /** Hands everything queued to the client now (a link that dropped since takes nothing: counted in `dropped`). */
  readonly flush = (): void => {
    this.scheduled = false;
    const subjects = this.subjects;
    const payloads = this.payloads;
    this.subjects = [];
    this.payloads = [];
    let lost = 0;
    for (let i = 0; i < subjects.length; i++) if (!this.broker.publish(subjects[i]!, payloads[i]!)) lost++;
    if (lost > 0) this.dropped(lost);
  };
}
