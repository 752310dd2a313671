/**
 * `bun run bench [--quick] [--no-history] [--go-peer] [--only=fanout,rooms,roomlatency,idle,latency,monitor,presence,codec,delta,api,replay,connect,reconnect,transports]`
 *
 * Starts its own nats-server, gateways, notifier and baselines, drives them with cheap
 * byte-counting WebSocket clients in several processes, and writes
 * bench/results/{latest|quick|partial}.{json,md,svg} (partial: a run with --only). Exit code 1 only for lost deliveries or a
 * crashed scenario; a missed performance target is reported as FAIL but exits 0.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, relative } from "node:path";
import { NATS_AUTH_CONF, TestNats, freePort } from "@rt/testkit";
import { GO_PEER_MAX_MESSAGES_PER_FRAME, goPeerVersions } from "./lib/centrifuge-go.ts";
import { FULL, QUICK, type Ctx } from "./lib/plan.ts";
import { WorkerPool } from "./lib/pool.ts";
import { fdHardLimit, loadAvg } from "./lib/proc.ts";
import { Progress } from "./lib/progress.ts";
import { stopAll } from "./lib/targets.ts";
import { checks, ratios, roundRatios } from "./report/checks.ts";
import { markdown } from "./report/markdown.ts";
import { svg } from "./report/svg.ts";
import type { BenchResults } from "./report/types.ts";
import { runFanout } from "./scenarios/fanout.ts";
import { runRooms } from "./scenarios/rooms.ts";
import { runRoomLatency } from "./scenarios/room-latency.ts";
import { runIdle } from "./scenarios/idle.ts";
import { runLatency } from "./scenarios/latency.ts";
import { runApi } from "./scenarios/api.ts";
import { runCodec } from "./scenarios/codec.ts";
import { runDelta } from "./scenarios/delta.ts";
import { runMonitor } from "./scenarios/monitor.ts";
import { runPresence } from "./scenarios/presence.ts";
import { runReplay } from "./scenarios/replay.ts";
import { runConnect } from "./scenarios/connect.ts";
import { runReconnect } from "./scenarios/reconnect.ts";
import { runTransports } from "./scenarios/transports.ts";

const SCENARIOS = ["fanout", "rooms", "roomlatency", "idle", "latency", "monitor", "presence", "codec", "delta", "api", "replay", "connect", "reconnect", "transports"] as const;
type Scenario = (typeof SCENARIOS)[number];

function parseArgs(argv: string[]): { quick: boolean; noHistory: boolean; goPeer: boolean; only: Set<Scenario>; members: number[] | undefined } {
  let quick = false;
  let members: number[] | undefined;
  let noHistory = false;
  let goPeer = false;
  let only = new Set<Scenario>(SCENARIOS);
  for (const a of argv) {
    if (a === "--quick") quick = true;
    else if (a === "--no-history") noHistory = true;
    else if (a === "--go-peer") goPeer = true;
    else if (a.startsWith("--members=")) {
      members = a.slice("--members=".length).split(",").map(Number);
      if (members.some((n) => !Number.isSafeInteger(n) || n < 1)) usage(`bad --members ${a}`);
    }
    else if (a.startsWith("--only=")) {
      const names = a.slice("--only=".length).split(",");
      const bad = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
      if (bad.length) usage(`unknown scenario ${bad.join(", ")}`);
      only = new Set(names as Scenario[]);
    } else if (a === "--help" || a === "-h") usage();
    else usage(`unknown argument ${a}`);
  }
  return { quick, noHistory, goPeer, only, members };
}

function usage(error?: string): never {
  if (error) console.error(`bench: ${error}`);
  console.error(`usage: bun run bench [--quick] [--no-history] [--go-peer] [--members=10,1000] [--only=${SCENARIOS.join(",")}]`);
  console.error("  --members: fan-out only at these of the plan's room sizes (a run for one comparison, a profile)");
  console.error("  --report=bench/results/latest.json: render an earlier run's report again with this code (nothing measured)");
  console.error("  --go-peer: measure the Go peer in --quick too (the full run always does; it is built on first use)");
  console.error("  --no-history: also measure `live:`, a namespace without history (a CHANNELS_FILE), against the NATS-hop floor");
  process.exit(error ? 2 : 0);
}

function git(args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], { stdout: "pipe", stderr: "ignore" });
  return r.success ? r.stdout.toString().trim() : "unknown";
}

function nodeVersion(): string {
  const r = Bun.spawnSync(["node", "--version"], { stdout: "pipe", stderr: "ignore" });
  return r.success ? r.stdout.toString().trim() : "missing";
}

// `--report=<results.json>`: the report of an earlier run rendered again (ratios, checks, markdown, SVG) with this report code; nothing is measured.
const reportArg = process.argv.slice(2).find((a) => a.startsWith("--report="));
if (reportArg) {
  const path = reportArg.slice("--report=".length);
  const old = JSON.parse(await Bun.file(path).text()) as BenchResults;
  old.ratios = ratios(old);
  old.ratioRounds = roundRatios(old);
  old.checks = checks(old, old.meta.checkedFanoutSizes);
  const base = path.replace(/\.json$/, "");
  writeFileSync(`${base}.json`, `${JSON.stringify(old, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(old));
  writeFileSync(`${base}.svg`, svg(old));
  console.log(`rendered ${base}.{json,md,svg} again`);
  process.exit(0);
}

const args = parseArgs(process.argv.slice(2));
const planned = args.quick ? { ...QUICK, goPeer: QUICK.goPeer || args.goPeer, fanout: { ...QUICK.fanout, peer: args.goPeer ? QUICK.fanout.protocol : QUICK.fanout.peer } } : FULL;
const plan = args.members ? { ...planned, fanout: { ...planned.fanout, members: planned.fanout.members.filter((n) => args.members!.includes(n)) } } : planned;
const progress = new Progress();
const t0 = performance.now();
const pool = new WorkerPool();
let nats: TestNats | undefined;

async function cleanup(): Promise<void> {
  await Promise.allSettled([pool[Symbol.asyncDispose](), stopAll()]);
  await nats?.[Symbol.asyncDispose]().catch(() => undefined);
}

// Whatever happens, leave nothing behind: a signal or the watchdog stops every child first.
const watchdogMs = args.quick ? 300_000 : 40 * 60_000;
const watchdog = setTimeout(() => {
  progress.log(`watchdog: still running after ${watchdogMs / 1000} s, giving up`);
  void cleanup().finally(() => process.exit(1));
}, watchdogMs);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    progress.log(`${sig}: stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

const results: BenchResults = {
  meta: {
    startedAt: new Date().toISOString(),
    quick: args.quick,
    durationSec: 0,
    bun: Bun.version,
    node: nodeVersion(),
    cpus: cpus().length,
    // The code measured is the working tree: say when services/ or packages/ differ from the commit.
    commit: git(["rev-parse", "--short", "HEAD"]) + (["", "unknown"].includes(git(["status", "--porcelain", "--", "services", "packages"])) ? "" : "+dirty"),
    note: "Clients, servers and nats-server share this machine; rates are upper bounds for it, ratios are the point.",
    checkedFanoutSizes: plan.fanout.checked,
    loadAvg: { start: loadAvg(), end: [] },
  },
  fanout: [],
  rooms: [],
  roomLatency: [],
  idle: [],
  latency: [],
  monitor: [],
  presence: [],
  codec: [],
  delta: [],
  api: [],
  connect: [],
  reconnect: [],
  replay: [],
  transports: [],
  ratios: {},
  checks: [],
  lost: 0,
  errors: [],
};

// Each server process holds its sockets alone: say so up front when the fd limit cannot fit them.
const perServer = Math.max(...plan.fanout.members, ...plan.idle.cases.map((c) => Math.ceil(c.sockets / c.gateways)), plan.monitor.sockets);
if (fdHardLimit() < perServer + 200) progress.log(`warning: the open-file limit (${fdHardLimit()}) is below the ${perServer} sockets one server process gets here; scenarios will fail`);

try {
  progress.status("starting nats-server");
  nats = await TestNats.start();
  // Again with its monitoring port (its subscription count, /subsz): the shipped users, included from the config's own folder.
  const monitorPort = await freePort();
  await nats.stop();
  await nats.restart({ config: `include "${relative(nats.storeDir, NATS_AUTH_CONF)}"\nhttp: "127.0.0.1:${monitorPort}"\n` });
  const ctx: Ctx = { plan, quick: args.quick, noHistory: args.noHistory, nats, natsMonitor: `http://127.0.0.1:${monitorPort}`, pool, progress };
  const run = async <T extends { error?: string }>(name: Scenario, fn: (c: Ctx) => Promise<T[]>, into: T[]) => {
    if (!args.only.has(name)) return;
    try {
      into.push(...(await fn(ctx)));
    } catch (err) {
      results.errors.push(`${name}: ${String(err)}`);
      progress.log(`${name} crashed: ${String(err)}`);
    }
  };
  await run("fanout", runFanout, results.fanout);
  await run("rooms", runRooms, results.rooms);
  await run("roomlatency", runRoomLatency, results.roomLatency);
  await run("idle", runIdle, results.idle);
  await run("latency", runLatency, results.latency);
  await run("monitor", runMonitor, results.monitor);
  await run("presence", runPresence, results.presence);
  await run("codec", runCodec, results.codec);
  await run("delta", runDelta, results.delta!);
  await run("api", runApi, results.api);
  await run("replay", runReplay, results.replay);
  await run("connect", runConnect, results.connect);
  await run("reconnect", runReconnect, results.reconnect);
  await run("transports", runTransports, results.transports!);
} catch (err) {
  results.errors.push(`setup: ${String(err)}`);
  progress.log(`setup failed: ${String(err)}`);
} finally {
  progress.status("stopping");
  await cleanup();
  clearTimeout(watchdog);
}

for (const list of [results.fanout, results.rooms, results.roomLatency, results.idle, results.latency, results.monitor, results.presence, results.codec, results.delta!, results.api, results.replay, results.connect, results.reconnect, results.transports!] as { error?: string; lost: number }[][]) {
  for (const x of list) {
    results.lost += x.lost;
    if (x.error) results.errors.push(x.error);
  }
}
results.meta.durationSec = Math.round((performance.now() - t0) / 100) / 10;
if ([...results.fanout, ...results.idle, ...results.connect].some((x) => x.target === "centrifuge-go")) {
  results.meta.goPeer = { ...goPeerVersions(), maxMessagesPerFrame: GO_PEER_MAX_MESSAGES_PER_FRAME };
}
results.meta.loadAvg.end = loadAvg();
results.ratios = ratios(results);
results.ratioRounds = roundRatios(results);
results.checks = checks(results, plan.fanout.checked);

const dir = join(import.meta.dir, "results");
// A run of only some scenarios never replaces the full results.
const base = args.quick ? "quick" : args.only.size < SCENARIOS.length ? "partial" : "latest";
mkdirSync(dir, { recursive: true });
const md = markdown(results);
/** Writes through a temporary file, so a reader never sees half a result. */
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
};
write(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
write(`${base}.md`, md);
write(`${base}.svg`, svg(results));

console.log(md);
for (const c of results.checks) console.log(`${c.pass ? "PASS" : "FAIL"}  ${c.name}: ${c.value === null ? "n/a" : `${c.value} ${c.unit}`} (wanted ${c.op} ${c.threshold})`);
console.log(`\nresults: bench/results/${base}.{json,md,svg}; ${results.meta.durationSec} s; lost deliveries: ${results.lost}; errors: ${results.errors.length}`);
process.exit(results.lost > 0 || results.errors.length > 0 ? 1 : 0);
