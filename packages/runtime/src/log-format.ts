import { EnvReader } from "./env.ts";

type Env = Record<string, string | undefined>;

/** How a service writes its logs: JSON lines (for machines), or pino-pretty (for a person at a terminal). */
export type LogFormat = "json" | "pretty";

/**
 * LOG_PRETTY=1 forces pretty, LOG_PRETTY=0 forces JSON; unset or empty, pretty exactly when
 * stdout is a terminal. Read with `r.flag` (so true/false, yes/no, on/off are taken too); any
 * other value is recorded on `r` as a bad variable.
 */
export function readLogFormat(r: EnvReader, isTTY: boolean): LogFormat {
  const pretty = r.string("LOG_PRETTY") === undefined ? isTTY : r.flag("LOG_PRETTY");
  return pretty ? "pretty" : "json";
}

/** `readLogFormat` on its own: throws ConfigErrors naming LOG_PRETTY when its value is bad. */
export function logFormat(env: Env, isTTY: boolean): LogFormat {
  const r = new EnvReader(env);
  return r.done(readLogFormat(r, isTTY));
}

/**
 * Whether pretty logs are coloured. FORCE_COLOR decides when set (anything but 0 or false turns
 * colours on, as in Node); else a non-empty NO_COLOR turns them off (no-color.org); else colours
 * only on a terminal that is not TERM=dumb.
 */
export function logColors(env: Env, isTTY: boolean): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !["0", "false"].includes(force.trim().toLowerCase());
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return isTTY && env.TERM !== "dumb";
}
