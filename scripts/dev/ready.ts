import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** The HTTP status of GET `url` on a fresh connection, or why there is none. */
export async function httpStatus(url: string, timeoutMs = 1000): Promise<number | string> {
  try {
    // `connection: close`: with several gateways on one port (SO_REUSEPORT) each probe must be
    // a new connection, so the kernel can hand it to any of them.
    const res = await fetch(url, { headers: { connection: "close" }, keepalive: false, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Which of `pids` hold a listening TCP socket on `port` (Linux: /proc/<pid>/fd against
 * /proc/net/tcp{,6}). Undefined where /proc cannot tell (another OS, or hidden).
 * With several gateways sharing one port, HTTP alone cannot reach each of them: this can.
 */
export function pidsListeningOn(pids: readonly number[], port: number): Set<number> | undefined {
  let listening: Set<string>;
  try {
    listening = listeningInodes(port);
  } catch {
    return undefined;
  }
  const found = new Set<number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1] !== undefined && listening.has(m[1])) {
        found.add(pid);
        break;
      }
    }
  }
  return found;
}

const TCP_LISTEN = "0A";

/** Inodes of the sockets listening on `port`, any address, IPv4 or IPv6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  let readAny = false;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
      readAny = true;
    } catch {
      continue;
    }
    for (const row of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = row.trim().split(/\s+/);
      const local = f[1];
      if (local === undefined || f[3] !== TCP_LISTEN || f[9] === undefined) continue;
      const hexPort = local.slice(local.lastIndexOf(":") + 1);
      if (Number.parseInt(hexPort, 16) === port) inodes.add(f[9]);
    }
  }
  if (!readAny) throw new Error("no /proc/net/tcp");
  return inodes;
}

/** What the launcher waits for before it prints its "ready" line. */
export interface UpTargets {
  gatewayPort: number;
  notifierPort: number;
  gateways: ReadonlyArray<{ name: string; pid: number }>;
}

/** Consecutive 200s asked of a shared gateway port per gateway process (fresh connections, spread by the kernel). */
const PROBES_PER_SHARED_GATEWAY = 8;

/**
 * Undefined once the notifier answers /readyz with 200 and so do the gateways; otherwise what is
 * still missing. With N gateways on one port: every gateway process must hold a listening
 * socket on it (/proc), then 8×N probes in a row on fresh connections must all get 200; a 503
 * from any one gateway (not yet connected to NATS) shows up there with high probability.
 */
export async function whatIsNotUp(t: UpTargets): Promise<string | undefined> {
  const notifier = await httpStatus(`http://127.0.0.1:${t.notifierPort}/readyz`);
  if (notifier !== 200) return `notifier on ${t.notifierPort} (GET /readyz: ${notifier})`;
  const listening = pidsListeningOn(t.gateways.map((g) => g.pid), t.gatewayPort);
  if (listening !== undefined) {
    const missing = t.gateways.filter((g) => !listening.has(g.pid)).map((g) => g.name);
    if (missing.length > 0) return `${missing.join(", ")} (not listening on ${t.gatewayPort} yet)`;
  }
  const probes = t.gateways.length === 1 ? 1 : PROBES_PER_SHARED_GATEWAY * t.gateways.length;
  for (let i = 0; i < probes; i++) {
    const s = await httpStatus(`http://127.0.0.1:${t.gatewayPort}/readyz`);
    if (s !== 200) return `gateway on ${t.gatewayPort} (GET /readyz: ${s})`;
  }
  return undefined;
}
