/**
 * `bun run dev`: the whole system on one machine (SPEC.md, Processes, "the local launcher").
 *
 * Starts a nats-server with JetStream on a free port and a temporary store (unless NATS_URL is
 * set), GATEWAYS gateway processes sharing GATEWAY_PORT, the notifier on NOTIFIER_PORT and the
 * metrics service; prefixes each child's output with its name; prints one line starting with
 * `ready:` once the gateways and the notifier answer /readyz; stops everything on SIGINT,
 * SIGTERM or SIGHUP and exits 0.
 *
 * Variables: GATEWAYS (1), GATEWAY_PORT (8080), NOTIFIER_PORT (8081), NATS_URL, JWT_SECRET
 * (made up for the run when unset, with a demo token printed), LOG_LEVEL (info; debug also shows
 * nats-server's own log), DEV_READY_TIMEOUT_MS (30000), and NATS_SERVER_BIN: the nats-server
 * binary to use instead of searching PATH and /usr/sbin (set it to a missing path to see what
 * happens on a machine without one). Everything else is passed through to the services.
 *
 * Exit codes: 0 after a signal; 1 when something fails (a child exits early, nothing answers
 * within the timeout, no nats-server); 2 for a bad variable.
 */
import { resolve } from "node:path";
import { loadConfigOrExit, natsServerBinary } from "@rt/runtime";
import { readDevConfig } from "./dev/config.ts";
import { Launcher } from "./dev/launcher.ts";
import { NATS_NOT_FOUND } from "./dev/nats.ts";
import { Output } from "./dev/output.ts";

const ROOT = resolve(import.meta.dir, "..");

const cfg = loadConfigOrExit("dev", () => readDevConfig(process.env));
const natsBin = cfg.natsUrl === undefined ? natsServerBinary(cfg.natsServerBin) : undefined;
if (cfg.natsUrl === undefined && natsBin === undefined) {
  console.error(cfg.natsServerBin === undefined ? NATS_NOT_FOUND : `${NATS_NOT_FOUND} (NATS_SERVER_BIN=${cfg.natsServerBin} is not an executable file)`);
  process.exit(1);
}

const names = ["dev", "nats", "notifier", "metrics", ...Array.from({ length: cfg.gateways }, (_, i) => `gateway-${i + 1}`)];
const out = new Output(names);
const launcher = new Launcher(cfg, natsBin, ROOT, out);

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => launcher.onSignal(signal));
// No orphans even if the launcher itself fails: kill what is left, synchronously.
process.on("exit", () => launcher.killAllNow());
const crash = (err: unknown) => {
  out.line("dev", `launcher crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, "err");
  launcher.killAllNow();
  process.exit(1);
};
process.on("uncaughtException", crash);
process.on("unhandledRejection", crash);

const code = await launcher.run();
await out.flush();
process.exit(code);
