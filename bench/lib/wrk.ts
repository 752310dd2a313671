import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

/** Debian's `wrk`, when installed: a load generator in C, so the measured server gets the cores. */
export const WRK = Bun.which("wrk");

/** What one wrk run measured. */
export interface WrkRun {
  requests: number;
  non2xx: number;
  durationMs: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * `wrk -c<connections>` POSTing to `url` for `durationMs`, with latency percentiles. `bodyLua` is a
 * Lua expression for the n-th request's JSON body (n counts per wrk thread), e.g.
 * `string.format('{"user_id":"u-%d","body":"x"}', n % 100)`.
 */
export function wrkPost(url: string, bodyLua: string, connections: number, durationMs: number): WrkRun {
  if (!WRK) throw new Error("wrk is not installed");
  const script = join(tmpdir(), `bench-wrk-${process.pid}.lua`);
  writeFileSync(
    script,
    [
      "local n = 0",
      'local headers = { ["Content-Type"] = "application/json" }',
      "request = function()",
      "  n = n + 1",
      `  return wrk.format("POST", nil, headers, ${bodyLua})`,
      "end",
      "",
    ].join("\n"),
  );
  const seconds = Math.max(1, Math.round(durationMs / 1000));
  const r = Bun.spawnSync([WRK, "-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, url], { stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString();
  if (!r.success) throw new Error(`wrk failed: ${r.stderr.toString().trim() || out}`);
  const ms = (label: string): number => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const total = /(\d+) requests in ([\d.]+)(ms|s)/.exec(out);
  return {
    requests: Number(total?.[1] ?? 0),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    durationMs: total ? Number(total[2]) * (total[3] === "s" ? 1000 : 1) : seconds * 1000,
    p50Ms: ms("50%"),
    p99Ms: ms("99%"),
  };
}
