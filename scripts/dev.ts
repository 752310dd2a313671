/**
 * `bun run dev`: the whole system on one machine (README, "Quick start" and "What `bun run dev`
 * prints and keeps": what it prints and the files it keeps are its interface).
 *
 * Starts a nats-server with JetStream on a free port and a temporary store (unless NATS_URL is
 * set), GATEWAYS gateway processes sharing GATEWAY_PORT, the notifier on NOTIFIER_PORT and the
 * metrics service (the gateways share the port with REUSE_PORT=1 when there are several; a service
 * never shares one otherwise); prefixes each line of each child's output with its name; prints one line
 * starting with `ready:` once the gateways and the notifier answer /readyz; stops everything on
 * SIGINT, SIGTERM or SIGHUP and exits 0. The ready line:
 *
 *   ready: gateway ws://localhost:8080 (1 process), notifier http://localhost:8081, nats nats://127.0.0.1:PORT, demo page http://localhost:8080/
 *
 * NATS users (docs/nats-security.md): its nats-server runs with deploy/nats/auth.conf, the
 * passwords of the five users made up once and kept in the state folder's nats-passwords.json; each
 * service connects as its own user (NATS_USER, NATS_PASSWORD), and before the ready line comes the
 * URL a backend connects with (`backend nats://backend:<password>@127.0.0.1:PORT`, also written as
 * variables to the state folder's backend.env). With NATS_URL the caller's NATS_USER,
 * NATS_PASSWORD, NATS_TOKEN or NATS_CREDS pass through to every service as they are (checked first,
 * as each service would: exit 2 for a half pair or two ways at once).
 *
 * Logs: the services write into pipes to the launcher, so the launcher decides their format by
 * its own stdout: a terminal gets pino-pretty (LOG_PRETTY=1, coloured with FORCE_COLOR=1), anything
 * else JSON lines (LOG_PRETTY=0). LOG_PRETTY=1 or 0 set by the caller wins; NO_COLOR drops the colours.
 *
 * State (scripts/lib/dev-state.ts), in DEV_STATE_DIR (default .tmp/dev at the repository root):
 * jwt-secret and nats-passwords.json, kept across runs; nats-url and backend.env while it runs, for
 * `bun run token`, `bun run notify --nats` and `bun run api --nats`, which read the same folder.
 * Nothing is read from a .env file (bunfig.toml turns Bun's loading off).
 *
 * Variables: GATEWAYS (1), GATEWAY_PORT (8080), NOTIFIER_PORT (8081), NATS_URL, JWT_SECRET
 * (made up for the run when unset, with a demo token printed), DEMO_PAGE (1: the gateways serve
 * the demo page at / and the ready line ends with its URL; 0: neither), LOG_LEVEL (info; debug
 * also shows nats-server's own log), LOG_PRETTY (see above), DEV_READY_TIMEOUT_MS (30000),
 * DEV_STATE_DIR (see above), and
 * NATS_SERVER_BIN: the nats-server binary to use instead of searching PATH and /usr/sbin (set it
 * to a missing path to see what happens on a machine without one). Everything else is passed
 * through to the services.
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

const cfg = loadConfigOrExit("dev", () => readDevConfig(process.env, process.stdout.isTTY === true));
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
