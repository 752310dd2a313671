export { ConfigError, ConfigErrors, EnvReader, formatDuration, loadConfigOrExit, LOG_LEVELS, MAX_DURATION_MS, type LogLevel } from "./env.ts";
export { createLogger, REDACT_PATHS, type Logger } from "./logger.ts";
export { logColors, logFormat, readLogFormat, type LogFormat } from "./log-format.ts";
export { connectNats, drainOrClose, exitOnNatsFailure, natsAuthOptions, NatsAuthError, type ServiceNats, type ServiceNatsOptions } from "./nats.ts";
export { describeNatsAuth, readCredsFile, readNatsAuth, type NatsAuth } from "./nats-auth.ts";
export { onShutdown } from "./shutdown.ts";
export { json, healthRoute, listenOrExit } from "./http.ts";
export { natsServerBinary, portOpen } from "./local.ts";
export { LATENCY_BUCKETS, METRIC_PREFIX, Metrics, natsMetrics, secondsSince } from "./metrics.ts";
