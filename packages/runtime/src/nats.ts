import { AuthorizationError, PermissionViolationError, connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "./logger.ts";
import { describeNatsAuth, type NatsAuth } from "./nats-auth.ts";

/** Options for a long-lived service connection, with its credentials (`NatsAuth`: none, user/pass, token or authenticator). */
export interface ServiceNatsOptions extends NatsAuth {
  servers: string[];
  name: string;
  logger: Logger;
  /** Do not deliver this connection's own publishes back to its subscriptions. */
  noEcho?: boolean;
  /**
   * Where the replies to this connection's requests arrive (`<prefix>.<token>`; default `_INBOX`):
   * a service's NATS user may subscribe only under its own (`INBOX_PREFIX` in @rt/protocol).
   */
  inboxPrefix?: string;
}

/** NATS refused the credentials (wrong password, unknown user or nkey): retrying with the same ones cannot help. */
export class NatsAuthError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsAuthError";
  }
}

/** A service's NATS connection and whether it is usable right now. */
export interface ServiceNats {
  nc: NatsConnection;
  /** True while connected (false while disconnected or reconnecting). */
  connected(): boolean;
  /** Calls `fn` after each reconnect (subscriptions are already restored then). */
  onReconnect(fn: () => void): void;
  /** Calls `fn` when the link drops (before any reconnect). */
  onDisconnect(fn: () => void): void;
  /** Calls `fn` when the connection closes for good by itself: the server refused the credentials at two reconnects in a row. */
  onFailed(fn: (err: Error) => void): void;
}

/**
 * How a service notices a NATS node that hangs (accepts no more, answers nothing) rather than
 * closing: a PING every 2 s, stale after 2 unanswered (4-6 s), and a connect attempt given 2 s
 * (the client's 20 s default was spent on the hung node itself at the reconnect). A node that
 * dies closes the socket, which is noticed at once.
 */
const LIVENESS = { pingInterval: 2000, maxPingOut: 2, timeout: 2000 } as const;

/**
 * Connects with the settings every service needs: reconnect forever (the client default gives up
 * after 10 attempts), keep trying the first connect, notice a hung node (LIVENESS), and log each status change. Credentials the
 * server refuses reject with NatsAuthError (the client stops retrying after the second refusal).
 */
export async function connectNats(opts: ServiceNatsOptions): Promise<ServiceNats> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: opts.servers,
      name: opts.name,
      noEcho: opts.noEcho ?? false,
      ...natsAuthOptions(opts),
      ...(opts.inboxPrefix !== undefined ? { inboxPrefix: opts.inboxPrefix } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
      waitOnFirstConnect: true,
      ...LIVENESS,
    });
  } catch (err) {
    if (err instanceof AuthorizationError) throw new NatsAuthError(`NATS refused the credentials (${describeNatsAuth(opts)}): ${err.message}`, { cause: err });
    throw err;
  }
  let up = true;
  const listeners: Array<() => void> = [];
  const downListeners: Array<() => void> = [];
  const log = opts.logger;
  /** A listener that throws must not end the status loop (nor hide the others). */
  const notify = (fns: Array<() => void>) => {
    for (const fn of fns) {
      try {
        fn();
      } catch (err) {
        log.error({ err }, "nats status listener failed");
      }
    }
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        up = false;
        log.warn({ server: s.server }, "nats disconnected");
        notify(downListeners);
      } else if (s.type === "reconnect") {
        up = true;
        log.info({ server: s.server }, "nats reconnected");
        notify(listeners);
      } else if (s.type === "error") {
        if (s.error instanceof PermissionViolationError) log.error({ operation: s.error.operation, subject: s.error.subject }, "nats permission denied");
        else log.error({ err: String(s.error) }, "nats error");
      } else if (s.type === "close") {
        up = false;
      }
    }
  })();
  const failListeners: Array<(err: Error) => void> = [];
  void nc.closed().then((err) => {
    if (!err) return; // closed or drained by us
    log.error({ err: err.message }, "nats connection closed for good");
    for (const fn of failListeners) fn(err);
  });
  return {
    nc,
    connected: () => up && !nc.isClosed(),
    onReconnect: (fn) => void listeners.push(fn),
    onDisconnect: (fn) => void downListeners.push(fn),
    onFailed: (fn) => void failListeners.push(fn),
  };
}

/**
 * For a service whose NATS connection cannot work (credentials refused at connect or at a
 * reconnect): logs why, prints one line `<service>: cannot use NATS: <why>` on stderr (as a bad
 * variable is; a log line written just before an exit can be lost) and exits 1, so whatever runs
 * the service restarts it or shows the failure.
 */
export function exitOnNatsFailure(service: string, log: Logger, err: unknown): never {
  const why = err instanceof Error ? err.message : String(err);
  log.fatal({ err: why }, "cannot use NATS; exiting");
  log.flush?.();
  process.stderr.write(`${service}: cannot use NATS: ${why}\n`);
  process.exit(1);
}

/** Only the credentials of `auth` as nats.js options (so the rest of an options object never reaches `connect`). */
export function natsAuthOptions(auth: NatsAuth): NatsAuth {
  if (auth.user !== undefined) return { user: auth.user, pass: auth.pass ?? "" };
  if (auth.token !== undefined) return { token: auth.token };
  if (auth.authenticator !== undefined) return { authenticator: auth.authenticator };
  return {};
}

/** Drains the connection (flushing what is pending), or closes it when that takes longer than `timeoutMs` (as during an outage). */
export async function drainOrClose(nc: NatsConnection, timeoutMs = 2000): Promise<void> {
  if (nc.isClosed()) return;
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), timeoutMs));
  const r = await Promise.race([nc.drain().then(() => "drained" as const, () => "failed" as const), timer]);
  if (r !== "drained" && !nc.isClosed()) await nc.close().catch(() => undefined);
}
