/** A bad configuration value: the process prints one line naming the variable and exits 2. */
export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

/** Every bad variable of one start, in the order read; `variable` and `message` are the first's, `errors` all of them. */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: ConfigError[]) {
    super(errors[0]!.variable, `${errors[0]!.message.slice(errors[0]!.variable.length + 2)}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ""}`);
    this.name = "ConfigErrors";
  }
}

type Env = Record<string, string | undefined>;

/**
 * Reads typed values from an environment. A bad value is recorded (and the fallback returned)
 * so every bad variable is reported in one run: call `done(config)` at the end, which throws
 * ConfigErrors naming all of them. `fail` records a check of the caller's own.
 */
export class EnvReader {
  private readonly errors: ConfigError[] = [];
  constructor(private readonly env: Env = process.env) {}

  /** Records a bad variable (a check the caller makes, such as one value against another). */
  fail(name: string, message: string): void {
    if (!this.errors.some((e) => e.variable === name)) this.errors.push(new ConfigError(name, message));
  }

  /** Records several problems of one variable (a file it names), one line each. */
  failEach(name: string, messages: readonly string[]): void {
    for (const message of messages) this.errors.push(new ConfigError(name, message));
  }

  /** True when `name` was already found bad (so a later check about it adds nothing). */
  bad(name: string): boolean {
    return this.errors.some((e) => e.variable === name);
  }

  /** Returns `config`, or throws ConfigErrors when any variable was bad. */
  done<T>(config: T): T {
    if (this.errors.length > 0) throw new ConfigErrors([...this.errors]);
    return config;
  }

  /** Runs one getter; a ConfigError is recorded and `fallback` returned instead. */
  private guard<T>(fallback: T, read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.fail(err.variable, err.message.slice(err.variable.length + 2));
      return fallback;
    }
  }

  /** A string, or `fallback` when unset or empty. */
  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === "" ? fallback : v;
  }

  /** An integer within [min, max], or `fallback` when unset. */
  int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    return this.guard(fallback, () => this.readInt(name, fallback, min, max));
  }

  private readInt(name: string, fallback: number, min: number, max: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a whole number, got ${JSON.stringify(raw)}`);
    const n = Number(raw.trim());
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  /** A TCP port (1-65535; 0 allowed when `allowZero`). */
  port(name: string, fallback: number, allowZero = true): number {
    return this.int(name, fallback, allowZero ? 0 : 1, 65535);
  }

  /** A port, or undefined when unset. */
  optionalPort(name: string): number | undefined {
    return this.string(name) === undefined ? undefined : this.port(name, 0);
  }

  /** A boolean flag: 1/true/yes/on or 0/false/no/off. */
  flag(name: string, fallback = false): boolean {
    return this.guard(fallback, () => this.readFlag(name, fallback));
  }

  private readFlag(name: string, fallback: boolean): boolean {
    const raw = this.string(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (["1", "true", "yes", "on"].includes(raw)) return true;
    if (["0", "false", "no", "off"].includes(raw)) return false;
    throw new ConfigError(name, `must be 1 or 0, got ${JSON.stringify(raw)}`);
  }

  /** A comma-separated list with blanks dropped, or undefined when unset. */
  list(name: string): string[] | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    return raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  }

  /** One of `choices`. */
  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    return this.guard(fallback, () => this.readOneOf(name, choices, fallback));
  }

  private readOneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!(choices as readonly string[]).includes(raw)) throw new ConfigError(name, `must be one of ${choices.join(", ")}, got ${JSON.stringify(raw)}`);
    return raw as T;
  }

  /** A comma list of nats:// (or tls://) server URLs. */
  natsUrl(name = "NATS_URL", fallback = "nats://127.0.0.1:4222"): string[] {
    return this.guard([fallback], () => this.readNatsUrl(name, fallback));
  }

  private readNatsUrl(name: string, fallback: string): string[] {
    const raw = this.string(name, fallback);
    const urls = raw.split(",").map((s) => s.trim()).filter(Boolean);
    if (urls.length === 0) throw new ConfigError(name, "must name at least one server");
    for (const u of urls) {
      let parsed: URL;
      try {
        parsed = new URL(u);
      } catch {
        throw new ConfigError(name, `not a URL: ${JSON.stringify(u)}`);
      }
      if (!["nats:", "tls:", "ws:", "wss:"].includes(parsed.protocol) || parsed.hostname === "") {
        throw new ConfigError(name, `must look like nats://host:port, got ${JSON.stringify(u)}`);
      }
    }
    return urls;
  }

  /** A duration in milliseconds within [minMs, maxMs]: a plain number of ms, or with a unit (500ms, 30s, 15m, 1h, 7d). */
  duration(name: string, fallbackMs: number, minMs = 0, maxMs = MAX_DURATION_MS): number {
    return this.guard(fallbackMs, () => this.readDuration(name, fallbackMs, minMs, maxMs));
  }

  private readDuration(name: string, fallbackMs: number, minMs: number, maxMs: number): number {
    const raw = this.string(name);
    if (raw === undefined) return fallbackMs;
    const m = /^(\d+)(ms|s|m|h|d)?$/.exec(raw.trim());
    if (!m) throw new ConfigError(name, `must be a duration like 500ms, 30s, 1h or 7d, got ${JSON.stringify(raw)}`);
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "ms") as "ms"];
    const ms = Number(m[1]) * unit;
    if (ms < minMs) throw new ConfigError(name, `must be at least ${minMs} ms`);
    if (!(ms <= maxMs)) throw new ConfigError(name, `must be at most ${formatDuration(maxMs)}, got ${JSON.stringify(raw)}`);
    return ms;
  }
}

/** The longest duration any variable takes: 10 years (JetStream keeps durations in int64 nanoseconds; 200000d would overflow). */
export const MAX_DURATION_MS = 3650 * 86_400_000;

/** `ms` in the largest whole unit (3650d, 1h, 500ms). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** Runs `load` and, on a ConfigError, prints one line per bad variable and exits 2. */
export function loadConfigOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) {
      const all = err instanceof ConfigErrors ? err.errors : [err];
      process.stderr.write(all.map((e) => `${service}: invalid configuration: ${e.message}\n`).join(""));
      process.exit(2);
    }
    throw err;
  }
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
