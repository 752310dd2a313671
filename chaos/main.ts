/**
 * `bun run chaos [--seconds N] [--seed S]`: a chaos run on this machine (README, "Chaos run").
 *
 * Starts a 3-node NATS cluster with R3 streams, three gateways and the notifier (each service's
 * NATS link through its own proxies), clients that publish into rooms (SDK clients and `/chat/`
 * sockets) and backends that publish through the server API and send notifications (HTTP and
 * NATS), and receivers (SDK clients, resuming `/notifications` sockets) that recover after every
 * disconnect. For N seconds a seeded schedule injects a fault every few seconds (kill -9 or
 * SIGTERM a gateway, kill -9 a NATS node, cut a gateway's NATS link, stall a client's reading),
 * each undone after a while. Then it waits for every client to come back and checks that every
 * acknowledged publication reached every receiver that stayed subscribed, once and in order.
 *
 * `--events FILE` writes the whole event log (publications, what each receiver was told and got,
 * the faults, what each service process printed) as JSON at the end, for a closer look at a
 * violation; without it, a run with a violation writes it to .tmp/chaos/events-<seed>.json.
 *
 * stderr: the seed, the schedule, progress, and on a violation the detail. stdout: the seed line
 * first, the summary last: `chaos: <F> faults, <A> acknowledged, <L> lost, <D> duplicated, <O> out of order`.
 * Exit 0 only when L, D and O are 0; 1 on a violation or a failed run; 2 for bad arguments.
 * Every child process and temporary directory goes on exit, also on SIGINT/SIGTERM and on a crash.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { USAGE, parseArgs, type ChaosArgs } from "./lib/args.ts";
import { EventLog } from "./lib/log.ts";
import { Progress } from "./lib/progress.ts";
import { details, summary } from "./lib/report.ts";
import { ChaosRun, SHAPE } from "./lib/run.ts";
import { plan } from "./lib/schedule.ts";
import { describe } from "./lib/faults.ts";

/** Where a run with a violation leaves its event log when --events is not given (git ignores .tmp/). */
const VIOLATION_LOGS = resolve(import.meta.dir, "..", ".tmp", "chaos");

let args: ChaosArgs;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`chaos: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}

const log = new EventLog();
const progress = new Progress(() => log.now());
const run = new ChaosRun(log, progress);
const replay = `bun run chaos --seconds ${args.seconds} --seed ${args.seed}`;

// No orphans, whatever happens: a signal or a crash kills every child first (synchronously on exit).
process.on("exit", () => run.killNow());
let stopping = false;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (stopping) {
      // A second signal: no more waiting.
      run.killNow();
      process.exit(130);
    }
    stopping = true;
    progress.log(`${sig}: stopping every process`);
    void run[Symbol.asyncDispose]().finally(() => process.exit(130));
  });
}
const crash = (err: unknown) => {
  progress.log(`crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  console.log(`chaos: failed (${err instanceof Error ? err.message : String(err)}); replay: ${replay}`);
  run.killNow();
  process.exit(1);
};
process.on("uncaughtException", crash);
process.on("unhandledRejection", crash);

const faults = plan(args.seed, args.seconds, SHAPE);
console.log(`seed ${args.seed} (replay: ${replay})`);
progress.log(`seed ${args.seed}, ${args.seconds} s, ${faults.length} faults planned (replay: ${replay})`);
for (const f of faults) progress.log(`  at ${(f.at / 1000).toFixed(1)} s: ${describe(f)}`);

let code = 1;
try {
  await run.start();
  await run.traffic(args.seconds, faults);
  progress.log(run.status());
  const verdict = await run.settle();
  for (const line of run.notes()) progress.log(line);
  const bad = verdict.lost + verdict.duplicated + verdict.outOfOrder > 0;
  // The event log: where --events says, and after a violation always (a replay may not hit the same race).
  const events = args.events ?? (bad ? join(VIOLATION_LOGS, `events-${args.seed}.json`) : undefined);
  if (events) {
    run.collectOutputs();
    mkdirSync(dirname(resolve(events)), { recursive: true });
    writeFileSync(events, JSON.stringify({ seed: args.seed, seconds: args.seconds, publications: log.publications, tracks: log.tracks, faults: log.faults, outputs: log.outputs }));
    progress.log(`event log written to ${events}`);
  }
  if (bad) {
    progress.log(`VIOLATIONS (seed ${args.seed}; replay: ${replay})`);
    for (const line of details(verdict, log)) process.stderr.write(`${line}\n`);
  }
  if (run.problems.length) progress.log(`the harness could not carry out every fault: ${run.problems.join("; ")}`);
  code = bad || run.problems.length ? 1 : 0;
  await run[Symbol.asyncDispose]();
  console.log(summary(verdict));
} catch (err) {
  crash(err);
}
process.exit(code);
