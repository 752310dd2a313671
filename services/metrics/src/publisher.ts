import { MAX_METRICS_BYTES, metricsSample, metricsSubject, type FieldError, type MetricsSample } from "@rt/protocol";
import type { Logger, ServiceNats } from "@rt/runtime";
import type { SampleMetrics } from "./metrics.ts";
import { Throttle } from "./throttle.ts";

/** What became of one sample. */
export type PublishOutcome = "published" | "disconnected" | "invalid" | "failed";

/** Sends samples somewhere. */
export interface Publisher {
  /** Sends one sample; never throws. */
  publish(sample: MetricsSample): PublishOutcome;
  /** Stops publishing and lets go of the transport. */
  close(): Promise<void>;
}

/** How often a repeating problem is logged at warn or error. */
const LOG_EVERY_MS = 30_000;
/** How long a drain may take at shutdown before the connection is simply closed. */
const DRAIN_TIMEOUT_MS = 2_000;

/**
 * Publishes each valid sample as JSON on the host's metrics subject. While NATS is down, samples
 * are dropped rather than queued: a stale load figure is worth nothing, and the client would
 * otherwise buffer every sample of the outage and send them in one burst on reconnect.
 */
export class NatsPublisher implements Publisher {
  private readonly subject: string;
  private readonly downLog = new Throttle(LOG_EVERY_MS);
  private readonly failLog = new Throttle(LOG_EVERY_MS);
  private readonly invalidLog = new Throttle(LOG_EVERY_MS);
  private dropped = 0;
  private closed = false;

  constructor(
    private readonly nats: Pick<ServiceNats, "nc" | "connected">,
    hostId: string,
    private readonly log: Logger,
    private readonly metrics: Pick<SampleMetrics, "published" | "publishFailed">,
  ) {
    this.subject = metricsSubject(hostId);
  }

  publish(sample: MetricsSample): PublishOutcome {
    const payload = encode(sample);
    if (typeof payload !== "string") {
      const skipped = this.invalidLog.take();
      if (skipped !== undefined) this.log.error({ errors: payload, skipped }, "invalid sample not published");
      return "invalid";
    }
    if (this.closed) return "disconnected";
    if (!this.nats.connected()) return this.drop();
    try {
      this.nats.nc.publish(this.subject, payload);
    } catch (err) {
      this.metrics.publishFailed();
      const skipped = this.failLog.take();
      if (skipped !== undefined) this.log.warn({ err: String(err), skipped }, "publish failed");
      else this.log.debug({ err: String(err) }, "publish failed");
      return "failed";
    }
    this.metrics.published();
    if (this.dropped > 0) {
      this.log.info({ dropped: this.dropped }, "publishing again");
      this.dropped = 0;
      this.downLog.reset();
    }
    return "published";
  }

  async close(): Promise<void> {
    this.closed = true;
    const { nc } = this.nats;
    if (nc.isClosed()) return;
    if (this.nats.connected()) {
      // drain waits for the server's answer to a flush: bound it in case the server just went away.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<string>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS, "timed out")));
      const result = await Promise.race([nc.drain().then(() => "drained", (err: unknown) => String(err)), timeout]);
      clearTimeout(timer);
      if (result !== "drained") this.log.warn({ err: result }, "nats drain did not finish; closing");
    }
    if (!nc.isClosed()) await nc.close();
  }

  private drop(): PublishOutcome {
    this.metrics.publishFailed();
    this.dropped++;
    const skipped = this.downLog.take();
    if (skipped !== undefined) this.log.warn({ dropped: this.dropped }, "nats not connected; dropping samples until it is back");
    else this.log.debug({ dropped: this.dropped }, "nats not connected; sample dropped");
    return "disconnected";
  }
}

/** The sample as the JSON a gateway accepts, or what is wrong with it. */
function encode(sample: MetricsSample): string | FieldError[] {
  const checked = metricsSample.validate(sample);
  if (!checked.ok) return checked.errors;
  const json = JSON.stringify(checked.value);
  if (Buffer.byteLength(json) > MAX_METRICS_BYTES) return [{ path: "", message: `must be at most ${MAX_METRICS_BYTES} bytes` }];
  return json;
}
