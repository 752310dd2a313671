/** What the command-line tools share. */

/** Looks like a NATS server URL (`nats://…`, `host:port`), not a JSON argument. */
const NATS_URL = /^([a-z]+:\/\/\S+|[\w.-]+:\d+)(,\S+)*$/i;

/** `--nats` takes an optional URL: split it out before parseArgs (which wants a value or none). */
export function takeNats(argv: string[]): { rest: string[]; nats: { url: string | undefined } | undefined } {
  const rest: string[] = [];
  let nats: { url: string | undefined } | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith("--nats=")) nats = { url: a.slice("--nats=".length) };
    else if (a === "--nats") {
      const next = argv[i + 1];
      nats = { url: next !== undefined && NATS_URL.test(next) ? next : undefined };
      if (nats.url !== undefined) i++;
    } else rest.push(a);
  }
  return { rest, nats };
}

