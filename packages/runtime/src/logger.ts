import pino, { type Logger } from "pino";
import type { LogLevel } from "./env.ts";

export type { Logger };

/** Paths never written to logs (tokens, secrets, notification content). */
export const REDACT_PATHS = [
  "token", "*.token", "authorization", "*.authorization", "headers.authorization", "req.headers.authorization",
  "secret", "*.secret", "body", "*.body", "password", "*.password",
];

/** A JSON logger to stdout; pretty-printed (as a stream, not a worker) only when LOG_PRETTY=1. */
export function createLogger(service: string, level: LogLevel): Logger {
  const options = { level, base: { service }, redact: { paths: REDACT_PATHS, censor: "[redacted]" } };
  if (process.env.LOG_PRETTY === "1") {
    // Loaded lazily: pino-pretty is a development aid, never on the production path.
    const pretty = require("pino-pretty") as (o: object) => NodeJS.WritableStream;
    return pino(options, pretty({ colorize: true, sync: true }));
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
