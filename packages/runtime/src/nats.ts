import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "./logger.ts";

/** Options for a long-lived service connection. */
export interface ServiceNatsOptions {
  servers: string[];
  name: string;
  logger: Logger;
  /** Do not deliver this connection's own publishes back to its subscriptions. */
  noEcho?: boolean;
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
}

/**
 * Connects with the settings every service needs: reconnect forever (the client default gives up
 * after 10 attempts), keep trying the first connect, and log each status change.
 */
export async function connectNats(opts: ServiceNatsOptions): Promise<ServiceNats> {
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    noEcho: opts.noEcho ?? false,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    maxPingOut: 3,
  });
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
        log.error({ err: String(s.error) }, "nats error");
      } else if (s.type === "close") {
        up = false;
      }
    }
  })();
  return {
    nc,
    connected: () => up && !nc.isClosed(),
    onReconnect: (fn) => void listeners.push(fn),
    onDisconnect: (fn) => void downListeners.push(fn),
  };
}

/** Drains the connection (flushing what is pending), or closes it when that takes longer than `timeoutMs` (as during an outage). */
export async function drainOrClose(nc: NatsConnection, timeoutMs = 2000): Promise<void> {
  if (nc.isClosed()) return;
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), timeoutMs));
  const r = await Promise.race([nc.drain().then(() => "drained" as const, () => "failed" as const), timer]);
  if (r !== "drained" && !nc.isClosed()) await nc.close().catch(() => undefined);
}
