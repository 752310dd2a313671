import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { connect } from "@nats-io/transport-node";
import { natsServerBinary } from "./nats-server.ts";
import { NATS_ADMIN, includePath, natsServerEnv } from "./nats-auth.ts";
import { freePort, portOpen, waitFor } from "./ports.ts";

/** One node of a TestCluster. */
export interface ClusterNode {
  /** `server_name`, n1..n3. */
  name: string;
  port: number;
  clusterPort: number;
  /** nats-server's monitoring port (`/connz`: which node a client is connected to). */
  monitorPort: number;
  storeDir: string;
  proc: Subprocess | undefined;
}

/**
 * A private 3-node nats-server cluster with JetStream (each node's config: `server_name`,
 * `listen`, `jetstream { store_dir }`, `cluster { name, listen, routes }`, which nats-server 2.9
 * needs for a JetStream cluster), on free ports with
 * temporary stores. `no_advertise` keeps clients on the URLs they were given, so a FaultProxy in
 * front of one node stays in the path. Nodes can be killed and restarted on their stores.
 */
export class TestCluster implements AsyncDisposable {
  private constructor(readonly nodes: ClusterNode[], private readonly dir: string) {}

  /** Starts three nodes and waits until JetStream answers on each (a meta leader exists). */
  static async start(size = 3): Promise<TestCluster> {
    const dir = mkdtempSync(join(tmpdir(), "rt-cluster-"));
    const nodes: ClusterNode[] = [];
    for (let i = 1; i <= size; i++) {
      nodes.push({ name: `n${i}`, port: await freePort(), clusterPort: await freePort(), monitorPort: await freePort(), storeDir: join(dir, `n${i}`), proc: undefined });
    }
    const c = new TestCluster(nodes, dir);
    try {
      await Promise.all(nodes.map((n) => c.spawn(n)));
      await c.waitJetStream();
    } catch (err) {
      await c[Symbol.asyncDispose]();
      throw err;
    }
    return c;
  }

  /** Every node's URL, comma-separated (what NATS_URL takes). */
  get url(): string {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(",");
  }

  /** The node named `name`. */
  node(name: string): ClusterNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** The name of the node leading `stream` now (asked through any live node). */
  async streamLeader(stream: string): Promise<string> {
    const r = await this.jsApi(`$JS.API.STREAM.INFO.${stream}`);
    const leader = (r as { cluster?: { leader?: string } }).cluster?.leader;
    if (!leader) throw new Error(`${stream} has no leader now: ${JSON.stringify(r)}`);
    return leader;
  }

  /** Waits until `stream` has a leader and `replicas` current peers in all. */
  async waitStreamHealthy(stream: string, replicas: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(`${stream} led with ${replicas} current replicas`, async () => {
      const r = (await this.jsApi(`$JS.API.STREAM.INFO.${stream}`)) as { cluster?: { leader?: string; replicas?: Array<{ current: boolean; offline?: boolean }> } };
      const peers = r.cluster?.replicas ?? [];
      return !!r.cluster?.leader && 1 + peers.filter((p) => p.current && !p.offline).length >= replicas;
    }, timeoutMs, 200);
  }

  /** The live node that client connection `name` (its nats.js `name` option) is connected to now, or undefined. */
  async clientNode(name: string): Promise<string | undefined> {
    for (const n of this.nodes.filter((x) => x.proc)) {
      const r = await fetch(`http://127.0.0.1:${n.monitorPort}/connz?limit=4096`).catch(() => undefined);
      if (!r?.ok) continue;
      const connz = (await r.json()) as { connections?: Array<{ name?: string }> };
      if (connz.connections?.some((c) => c.name === name)) return n.name;
    }
    return undefined;
  }

  /** Asks the leader of `stream` to step down, and waits until another node leads it. */
  async stepDown(stream: string, timeoutMs = 30_000): Promise<string> {
    const before = await this.streamLeader(stream);
    await this.jsApi(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`);
    let now = before;
    await waitFor(`${stream} led by another node than ${before}`, async () => {
      now = await this.streamLeader(stream);
      return now !== before;
    }, timeoutMs, 100);
    return now;
  }

  /** Moves the leader of `stream` off `nodes` (step-downs until another node leads it); returns the leader. */
  async leaderOff(stream: string, nodes: Array<string | undefined>): Promise<string> {
    let leader = await this.streamLeader(stream);
    for (let i = 0; i < 20 && nodes.includes(leader); i++) leader = await this.stepDown(stream);
    if (nodes.includes(leader)) throw new Error(`${stream} stayed on ${leader}`);
    return leader;
  }

  /** Moves the leader of `stream` to `node` (step-downs until it leads; each elects one of the others at random). */
  async leaderTo(stream: string, node: string): Promise<string> {
    let leader = await this.streamLeader(stream);
    for (let i = 0; i < 30 && leader !== node; i++) leader = await this.stepDown(stream);
    if (leader !== node) throw new Error(`${stream} never went to ${node}`);
    return leader;
  }

  /** The node leading the JetStream meta group now (its `/jsz`), or undefined while there is none. */
  async metaLeader(): Promise<string | undefined> {
    for (const n of this.nodes.filter((x) => x.proc)) {
      const r = await fetch(`http://127.0.0.1:${n.monitorPort}/jsz`).catch(() => undefined);
      if (!r?.ok) continue;
      const leader = ((await r.json()) as { meta_cluster?: { leader?: string } }).meta_cluster?.leader;
      if (leader) return leader;
    }
    return undefined;
  }

  /** Moves the JetStream meta leader to `node` (step-downs until it leads: consumers are created through it). */
  async metaLeaderTo(node: string, timeoutMs = 30_000): Promise<void> {
    for (let i = 0; i < 30; i++) {
      const before = await this.metaLeader();
      if (before === node) return;
      await this.jsApi("$JS.API.META.LEADER.STEPDOWN").catch(() => undefined);
      await waitFor(`a meta leader other than ${before}`, async () => {
        const now = await this.metaLeader();
        return now !== undefined && now !== before;
      }, timeoutMs, 100);
    }
    throw new Error(`the meta leader never went to ${node}`);
  }

  /** Kills node `name` (SIGKILL when `hard`), keeping its store. */
  async kill(name: string, hard = true): Promise<void> {
    const n = this.node(name);
    const p = n.proc;
    n.proc = undefined;
    if (!p) return;
    p.kill(hard ? "SIGKILL" : "SIGTERM");
    await p.exited;
  }

  /** Starts node `name` again on its port and store. */
  async restart(name: string): Promise<void> {
    await this.spawn(this.node(name));
  }

  /** Kills every node and removes the stores, synchronously (for an `exit` handler after a crash). */
  killNow(): void {
    for (const n of this.nodes) n.proc?.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n.name)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async spawn(n: ClusterNode): Promise<void> {
    const bin = natsServerBinary();
    if (!bin) throw new Error("nats-server not found: apt-get install -y nats-server");
    const routes = this.nodes.filter((o) => o !== n).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`);
    const conf = join(this.dir, `${n.name}.conf`);
    writeFileSync(conf, [
      `include "${includePath(conf)}"`,
      `server_name: ${n.name}`,
      `listen: 127.0.0.1:${n.port}`,
      `http: 127.0.0.1:${n.monitorPort}`,
      `jetstream { store_dir: "${n.storeDir}" }`,
      `cluster {`,
      `  name: rt-test`,
      `  listen: 127.0.0.1:${n.clusterPort}`,
      `  no_advertise: true`,
      `  routes: [${routes.join(", ")}]`,
      `}`,
      "",
    ].join("\n"));
    n.proc = Bun.spawn([bin, "-c", conf], { stdout: "ignore", stderr: "ignore", env: { ...process.env, ...natsServerEnv() } });
    await waitFor(`${n.name} on ${n.port}`, () => portOpen(n.port), 10_000);
  }

  /** Waits until every live node answers the JetStream API. */
  private async waitJetStream(): Promise<void> {
    for (const n of this.nodes.filter((x) => x.proc)) {
      await waitFor(`JetStream on ${n.name}`, async () => {
        const r = await request(n.port, "$JS.API.INFO");
        return !("error" in (r as object));
      }, 30_000, 200);
    }
  }

  /** A JetStream API request through the first live node that answers. */
  private async jsApi(subject: string): Promise<unknown> {
    let last: unknown;
    for (const n of this.nodes.filter((x) => x.proc)) {
      try {
        return await request(n.port, subject);
      } catch (err) {
        last = err;
      }
    }
    throw last ?? new Error("no live node");
  }
}

async function request(port: number, subject: string): Promise<unknown> {
  const nc = await connect({ ...NATS_ADMIN, servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0, timeout: 2000 });
  try {
    return (await nc.request(subject, "", { timeout: 2000 })).json();
  } finally {
    await nc.close();
  }
}
