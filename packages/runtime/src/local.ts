import { accessSync, constants } from "node:fs";

const DEBIAN_NATS_SERVER = "/usr/sbin/nats-server";

/**
 * The nats-server binary: `override` when given (and nothing else, so a caller can simulate a
 * machine without one), else nats-server on PATH, else Debian's /usr/sbin/nats-server.
 */
export function natsServerBinary(override?: string): string | undefined {
  if (override !== undefined) return isExecutable(override) ? override : undefined;
  return Bun.which("nats-server") ?? (isExecutable(DEBIAN_NATS_SERVER) ? DEBIAN_NATS_SERVER : undefined);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const sock = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    sock.end();
    return true;
  } catch {
    return false;
  }
}
