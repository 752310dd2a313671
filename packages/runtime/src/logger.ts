import pino, { type Logger } from "pino";
import { loadConfigOrExit, type LogLevel } from "./env.ts";
import { logColors, logFormat } from "./log-format.ts";

export type { Logger };

/** Paths never written to logs (tokens, secrets, notification content). */
export const REDACT_PATHS = [
  "token", "*.token", "authorization", "*.authorization", "headers.authorization", "req.headers.authorization",
  "secret", "*.secret", "body", "*.body", "password", "*.password",
  // NATS credentials (nats.js option names, and the config field holding them).
  "pass", "*.pass", "auth_token", "*.auth_token", "natsAuth", "*.natsAuth",
];

/**
 * A logger to stdout: JSON lines, or pretty-printed for a person when stdout is a terminal
 * (LOG_PRETTY=1 or 0 forces either; see `logFormat`). A bad LOG_PRETTY stops the process with
 * one line naming it, exit 2. Redaction happens in pino before either format is written.
 */
export function createLogger(service: string, level: LogLevel): Logger {
  const isTTY = process.stdout.isTTY === true;
  const format = loadConfigOrExit(service, () => logFormat(process.env, isTTY));
  const options = { level, base: { service }, redact: { paths: REDACT_PATHS, censor: "[redacted]" } };
  if (format === "pretty") {
    // Loaded lazily: pino-pretty is a development aid, never on the production path. Used as a
    // stream, not a worker transport: those fail inside `bun build --compile` binaries (bun#10246).
    const pretty = require("pino-pretty") as (o: object) => NodeJS.WritableStream;
    return pino(options, pretty({
      colorize: logColors(process.env, isTTY),
      sync: true,
      singleLine: true,
      // The service is known (the launcher prefixes each line with it); a child's module leads its message.
      ignore: "service,module",
      messageFormat: "{if module}{module}: {end}{msg}",
    }));
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
