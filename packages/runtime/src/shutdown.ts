import type { Logger } from "./logger.ts";

/**
 * Runs `stop` once on SIGTERM or SIGINT, then exits 0; exits 1 if it has not finished in `graceMs`.
 */
export function onShutdown(log: Logger, stop: () => Promise<void>, graceMs = 9000): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      log.error("shutdown took too long; exiting");
      process.exit(1);
    }, graceMs);
    stop().then(
      () => {
        clearTimeout(timer);
        log.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}
