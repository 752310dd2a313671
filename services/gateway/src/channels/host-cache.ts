/** Most hosts remembered. */
const MAX_HOSTS = 1024;
/** A host is gone after this many of its sampling periods without a sample. */
const MISSED_PERIODS = 3;
/** The period assumed for a sample that does not say (`interval_ms`), and the bounds of a host's lifetime. */
const DEFAULT_PERIOD_MS = 10_000;
const MIN_TTL_MS = 3000;
const MAX_TTL_MS = 3_600_000;

interface Entry {
  text: string;
  /** When the host counts as gone (ms). */
  expires: number;
}

/**
 * The newest sample of each metrics host, for sockets that open later. A host that missed three
 * of its sampling periods is gone (not sent, and evicted); when full, a new host evicts the gone
 * ones and then the least recently heard, so new hosts are never refused. Pure: the clock is passed in.
 */
export class HostCache {
  /** Least recently heard first (an update moves a host to the end). */
  private readonly hosts = new Map<string, Entry>();

  constructor(private readonly maxHosts = MAX_HOSTS) {}

  /** Remembers `text` as `host`'s newest sample, heard at `now`, sampled every `periodMs`. */
  put(host: string, text: string, periodMs: number | undefined, now: number): void {
    const ttl = Math.min(Math.max(MISSED_PERIODS * (periodMs ?? DEFAULT_PERIOD_MS), MIN_TTL_MS), MAX_TTL_MS);
    this.hosts.delete(host);
    if (this.hosts.size >= this.maxHosts) this.evict(now);
    this.hosts.set(host, { text, expires: now + ttl });
  }

  /** The newest sample of every host still live at `now` (gone ones are evicted on the way). */
  *live(now: number): Generator<string> {
    for (const [host, e] of this.hosts) {
      if (e.expires <= now) this.hosts.delete(host);
      else yield e.text;
    }
  }

  get size(): number {
    return this.hosts.size;
  }

  /** Makes room for one: every gone host, else the least recently heard. */
  private evict(now: number): void {
    for (const [host, e] of this.hosts) if (e.expires <= now) this.hosts.delete(host);
    if (this.hosts.size >= this.maxHosts) this.hosts.delete(this.hosts.keys().next().value!);
  }
}
