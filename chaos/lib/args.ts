/** The command line of `bun run chaos`. */
export interface ChaosArgs {
  /** How long traffic flows and faults are injected. */
  seconds: number;
  /** The schedule's seed (made up from the clock when not given). */
  seed: number;
  /** Where to write the whole event log as JSON at the end (for a closer look at a violation). */
  events: string | undefined;
}

export const USAGE = "usage: bun run chaos [--seconds N] [--seed S] [--events FILE]   (N: 10 to 86400, default 60; S: 0 to 4294967295; FILE: the event log as JSON)";

/** Parses `argv` (without the runtime and script); throws an Error naming the bad argument. */
export function parseArgs(argv: readonly string[], clockSeed: () => number = () => (Date.now() ^ (process.pid << 16)) >>> 0): ChaosArgs {
  let seconds = 60;
  let seed: number | undefined;
  let events: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    if (name === "--seconds") seconds = int(name, value(), 10, 86_400);
    else if (name === "--seed") seed = int(name, value(), 0, 0xffffffff);
    else if (name === "--events") events = value();
    else throw new Error(`unknown argument ${a}`);
  }
  return { seconds, seed: seed ?? clockSeed(), events };
}

function int(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return Number(text);
}
