import Type, { type Static } from "typebox";
import { HostId } from "./ids.ts";
import { validator } from "./validator.ts";

/** One metrics sample, published by a metrics host and sent as-is to `/system-monitor` sockets. */
export const MetricsSample = Type.Object({
  timestamp: Type.String({ format: "date-time", maxLength: 64 }),
  cpu_load: Type.Number({ minimum: 0 }),
  memory_usage: Type.Number({ minimum: 0, maximum: 100 }),
  host: HostId,
  cpu_percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  /** The host's sampling period: a host silent for three of them is gone. */
  interval_ms: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type MetricsSample = Static<typeof MetricsSample>;
export const metricsSample = validator(MetricsSample);

/** Largest metrics payload a gateway accepts from NATS. */
export const MAX_METRICS_BYTES = 4096;
