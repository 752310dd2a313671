import { connect } from "@nats-io/transport-node";
import { devNatsUrl } from "./dev-state.ts";

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


/**
 * One NATS request from a command-line tool: to the URL given, else NATS_URL, else the running
 * `bun run dev` server's, else nats://127.0.0.1:4222. Resolves with the answer's text; rejects
 * with a message fit for the user when NATS or an answer is not there.
 */
export async function requestOverNats(given: string | undefined, subject: string, payload: string, timeoutMs: number): Promise<string> {
  const url = given ?? process.env.NATS_URL ?? devNatsUrl() ?? "nats://127.0.0.1:4222";
  let nc;
  try {
    nc = await connect({ servers: url.split(","), timeout: 5000 });
  } catch (err) {
    throw new Error(`cannot reach NATS at ${url}: ${(err as Error).message}`);
  }
  try {
    return (await nc.request(subject, payload, { timeout: timeoutMs })).string();
  } catch (err) {
    throw new Error(`no answer on ${subject} at ${url} (is the notifier running?): ${(err as Error).message}`);
  } finally {
    await nc.close();
  }
}
