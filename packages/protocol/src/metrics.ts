import Type, { type Static } from "typebox";
import { HostId } from "./ids.ts";
import { validator } from "./validator.ts";

/** One metrics sample, published by a metrics host and sent as-is to `/system-monitor` sockets. */
export const MetricsSample = Type.Object({
  timestamp: Type.String({ format: "date-time", maxLength: 64, description: "When it was taken (ISO-8601, UTC)." }),
  cpu_load: Type.Number({ minimum: 0, description: "The 1-minute load average (runnable processes; not a percent)." }),
  memory_usage: Type.Number({ minimum: 0, maximum: 100, description: "Percent of memory in use (0 to 100)." }),
  host: Type.String({ ...HostId, description: "The metrics host (HOST_ID, else its hostname)." }),
  cpu_percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: "Percent of CPU time busy since the previous sample (absent on the first)." })),
  /** The host's sampling period: a host silent for three of them is gone. */
  interval_ms: Type.Optional(Type.Integer({ minimum: 1, description: "The host's sampling period in ms; a host silent for three periods is gone." })),
});
export type MetricsSample = Static<typeof MetricsSample>;
export const metricsSample = validator(MetricsSample);

/** Largest metrics payload a gateway accepts from NATS. */
export const MAX_METRICS_BYTES = 4096;
