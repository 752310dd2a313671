import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NOTIFICATIONS_STREAM, ROOMS_STREAM } from "@rt/protocol";
import { TestSystem, natsAs, signToken, waitFor } from "@rt/testkit";
import { BackendSender, apiOverHttp, apiOverNats, flood, notifyOverHttp, notifyOverNats } from "../clients/backend.ts";
import { ChatSocket } from "../clients/chat.ts";
import { InboxSocket } from "../clients/inbox.ts";
import { SdkClient } from "../clients/sdk.ts";
import { check, type Verdict } from "./checker.ts";
import { FaultInjector, type StallTarget } from "./faults.ts";
import type { EventLog } from "./log.ts";
import type { Progress } from "./progress.ts";
import { Running } from "./running.ts";
import type { PlannedFault, Shape } from "./schedule.ts";

/** What runs: three gateways, three rooms, and who publishes and receives there. */
export const WORLD = {
  gateways: 3,
  nodes: ["n1", "n2", "n3"],
  rooms: ["r0", "r1", "r2"],
  /** SDK clients that only receive: every room, their own bulk room and their inbox; each can be stalled. */
  receivers: ["u0", "u1", "u2", "u3"],
  /** SDK clients that publish into one room each (and receive it). */
  publishers: ["p0", "p1", "p2"],
  /** Users who also hold a resuming `/notifications` socket. */
  inboxUsers: ["u0", "u1"],
  /** Pause after each publish reply, each `/chat/` frame, each backend acknowledgement (ms). */
  sdkEveryMs: 50,
  chatEveryMs: 100,
  backendEveryMs: 60,
  /**
   * While a receiver is stalled, its own room `chat:bulk-<user>` is flooded through the API's
   * `batch` with publications of this many bytes, at most `bulkMax` of them (7 MB): more than the
   * kernel's socket buffers and BACKPRESSURE_LIMIT_BYTES hold (a stall was cut here after 4 to 6
   * MB), so the gateway's slow-consumer cut fires (3008) and the SDK reconnects and recovers, as a
   * stalled tab behind a busy room does.
   */
  bulkPadBytes: 6000,
  bulkMax: 1200,
} as const;

/** What the schedule may break in this world. */
export const SHAPE: Shape = { gateways: WORLD.gateways, nodes: WORLD.nodes, stallable: WORLD.receivers };

/**
 * The services' settings for the run. Rooms keep 2,000 publications (about a minute of this
 * run's traffic per room) so that every recovery after a fault of a few seconds is within
 * history: a recovery that fails is then a finding, not the configured limit.
 */
const SERVICE_ENV = { ROOM_HISTORY_SIZE: "2000" };
/** How long the end waits for clients to come back and for every acknowledged publication to arrive. */
const SETTLE_MS = 45_000;

/**
 * One chaos run on this machine: a 3-node NATS cluster (R3 streams), three gateways and the
 * notifier (each service's NATS link through its own proxies), SDK clients, `/chat/` and
 * `/notifications` sockets, and backends over HTTP and NATS; then traffic with faults injected,
 * a settling phase, and the checker's verdict.
 */
export class ChaosRun implements AsyncDisposable {
  private sys: TestSystem | undefined;
  /** The system while it starts (so that stopping meanwhile waits for it, then stops it). */
  private starting: Promise<TestSystem> | undefined;
  private nc: NatsConnection | undefined;
  private readonly sdk: SdkClient[] = [];
  private readonly chats: ChatSocket[] = [];
  private readonly inboxes: InboxSocket[] = [];
  private readonly backends: BackendSender[] = [];
  private readonly stallTargets = new Map<string, StallTarget>();
  private injector: FaultInjector | undefined;

  constructor(private readonly log: EventLog, private readonly progress: Progress) {}

  /** Starts the cluster, the services and every client; resolves once all are connected and subscribed. */
  async start(): Promise<void> {
    this.progress.log("starting a 3-node NATS cluster, the notifier and 3 gateways (JETSTREAM_REPLICAS=3, each link through its own proxies)");
    const opts = { cluster: true, proxied: true, gateways: WORLD.gateways, notifier: true, gatewayEnv: SERVICE_ENV, notifierEnv: SERVICE_ENV };
    // On a loaded machine a service can miss its start-up deadline: one more try before giving up.
    this.starting = TestSystem.start(opts).catch((err: unknown) => {
      this.progress.log(`the system did not start (${String(err).split("\n")[0]}); trying once more`);
      return TestSystem.start(opts);
    });
    this.sys = await this.starting;
    const sys = this.sys;
    await Promise.all([ROOMS_STREAM, NOTIFICATIONS_STREAM].map((s) => sys.cluster!.waitStreamHealthy(s, 3, 60_000).catch(() => undefined)));
    const gateways = sys.gateways.map((g) => g.ws);
    this.nc = await connect({ ...natsAs("backend"), servers: sys.cluster!.url.split(","), name: "chaos-backend", maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const notifier = sys.notifier!.http;
    this.backends.push(
      new BackendSender("api-http", "api-http", apiOverHttp(notifier), this.log),
      new BackendSender("api-nats", "api-nats", apiOverNats(this.nc), this.log),
      new BackendSender("notify-http", "notify-http", notifyOverHttp(notifier), this.log),
      new BackendSender("notify-nats", "notify-nats", notifyOverNats(this.nc), this.log),
    );
    const rooms = WORLD.rooms.map((r) => `chat:${r}`);
    let home = 0;
    for (const user of WORLD.receivers) {
      const c = new SdkClient(user, user, await signToken(user, { expiresIn: "24h" }), gateways, home++ % gateways.length, this.log);
      this.sdk.push(c);
      this.stallTargets.set(user, this.stallTarget(c, notifier));
    }
    const publishers = WORLD.publishers.map((p, i) => ({ rooms: [rooms[i % rooms.length]!], p }));
    for (const { p } of publishers) this.sdk.push(new SdkClient(p, p, await signToken(p, { expiresIn: "24h" }), gateways, home++ % gateways.length, this.log));
    // Server API publications (markers included) reach /chat/ sockets only through the ROOMS stream.
    const viaStream = (id: string) => ["api-http", "api-nats", "marker"].includes(this.log.get(id)?.source ?? "");
    for (const [i, room] of WORLD.rooms.entries()) this.chats.push(new ChatSocket(`c${i}`, room, gateways, home++ % gateways.length, this.log, viaStream));
    for (const user of WORLD.inboxUsers) this.inboxes.push(new InboxSocket(`inbox-${user}`, user, await signToken(user, { expiresIn: "24h" }), gateways, home++ % gateways.length, this.log));
    await Promise.all(this.sdk.map((c, i) => c.start(i < WORLD.receivers.length ? [...rooms, bulkRoom(c.user)] : publishers[i - WORLD.receivers.length]!.rooms)));
    this.progress.log(`${this.sdk.length} SDK clients subscribed (${WORLD.receivers.length} receivers in ${rooms.length} rooms and their inboxes, ${WORLD.publishers.length} publishers), ${this.chats.length} /chat/ sockets, ${this.inboxes.length} /notifications sockets, 4 backends (API and notifications, HTTP and NATS)`);
  }

  /** Traffic for `seconds` while `faults` are injected; resolves once traffic stopped and every fault is over. */
  async traffic(seconds: number, faults: readonly PlannedFault[]): Promise<void> {
    const sys = this.sys!;
    const running = new Running();
    const injector = new FaultInjector(sys, this.stallTargets, this.log, this.progress);
    this.injector = injector;
    const rooms = WORLD.rooms.map((r) => `chat:${r}`);
    const inboxes = WORLD.receivers.map((u) => `#${u}`);
    const pending = new Set<string>();
    const loop = (name: string, p: Promise<void>) => {
      pending.add(name);
      return p.finally(() => pending.delete(name));
    };
    const loops: Promise<void>[] = [
      ...this.sdk.slice(WORLD.receivers.length).map((c, i) => loop(c.name, c.publish(running, rooms[i % rooms.length]!, WORLD.sdkEveryMs))),
      ...this.chats.map((c) => loop(c.name, c.run(running, WORLD.chatEveryMs))),
      ...this.inboxes.map((c) => loop(c.name, c.run(running))),
      ...this.backends.map((b, i) => loop(b.name, b.run(running, i < 2 ? rooms : inboxes, WORLD.backendEveryMs))),
    ];
    const scheduled = injector.schedule(faults, () => !running.on);
    const status = setInterval(() => this.progress.log(this.status()), 5000);
    try {
      await running.sleep(seconds * 1000);
      this.progress.log(`traffic stops; waiting for the faults in progress to end (${injector.begun - injector.finished})`);
      running.stop();
      await scheduled;
      await injector.done();
      // The /chat/ and /notifications loops returned; their sockets stay open for the end.
      const slow = setInterval(() => this.progress.log(`waiting for ${[...pending].join(", ")} to stop`), 5000);
      await Promise.all(loops).finally(() => clearInterval(slow));
    } finally {
      clearInterval(status);
    }
  }

  /**
   * The end: every client back and subscribed, one marker per channel acknowledged, then waits
   * until every acknowledged publication has reached every receiver that must have it (or
   * SETTLE_MS passed); returns the verdict.
   */
  async settle(): Promise<Verdict> {
    const sys = this.sys!;
    const deadline = performance.now() + SETTLE_MS;
    const left = () => Math.max(1000, deadline - performance.now());
    await Promise.all([ROOMS_STREAM, NOTIFICATIONS_STREAM].map((s) => sys.cluster!.waitStreamHealthy(s, 3, left()))).catch((err: unknown) => this.progress.log(`streams not healthy: ${String(err)}`));
    await waitFor("every SDK client connected and subscribed", () => this.sdk.every((c) => c.settled), left(), 100).catch(() =>
      this.progress.log(`not every SDK client came back: ${this.sdk.filter((c) => !c.settled).map((c) => c.name).join(", ")}`),
    );
    this.progress.log("every client back; one marker per channel");
    await Promise.all([...WORLD.rooms.map((r) => this.backends[0]!.one(`chat:${r}`, "marker")), ...WORLD.receivers.map((u) => this.backends[2]!.one(`#${u}`, "marker"))]);
    let verdict = check(this.log);
    await waitFor("every acknowledged publication delivered", () => (verdict = check(this.log)).lost === 0, left(), 500).catch(() => undefined);
    verdict = check(this.log);
    return verdict;
  }

  /** Stalling `c`: its socket stops reading while its bulk room is flooded; it reads again once the flood stopped. */
  private stallTarget(c: SdkClient, notifier: string): StallTarget {
    let flooding = false;
    let stalls = 0;
    let done = Promise.resolve();
    return {
      stall: () => {
        c.transport.pause();
        flooding = true;
        done = flood(notifier, this.log, `bulk-${c.user}-${++stalls}`, bulkRoom(c.user), WORLD.bulkPadBytes, WORLD.bulkMax, () => flooding);
      },
      unstall: async () => {
        flooding = false;
        await done;
        c.transport.resume();
      },
    };
  }

  /** One progress line: what was acknowledged and delivered so far, and the faults. */
  status(): string {
    const acked = this.log.publications.filter((p) => p.ackedAt !== undefined).length;
    const received = this.log.tracks.reduce((n, t) => n + t.entries.length, 0);
    const up = this.sdk.filter((c) => c.settled).length;
    return `${acked} acknowledged of ${this.log.publications.length} sent, ${received} events received; faults ${this.injector?.finished ?? 0} done, ${(this.injector?.begun ?? 0) - (this.injector?.finished ?? 0)} in progress; SDK clients settled ${up}/${this.sdk.length}`;
  }

  /** Why publishes and sends failed, and which disconnect codes clients saw (for the report). */
  notes(): string[] {
    const out: string[] = [];
    const bySource = new Map<string, { sent: number; acked: number }>();
    for (const p of this.log.publications) {
      const key = p.publisher.startsWith("bulk-") ? "flood" : p.source;
      const s = bySource.get(key) ?? { sent: 0, acked: 0 };
      s.sent++;
      if (p.ackedAt !== undefined) s.acked++;
      bySource.set(key, s);
    }
    out.push(`publications (acknowledged/sent): ${[...bySource].map(([k, s]) => `${k} ${s.acked}/${s.sent}`).join(", ")}`);
    for (const b of this.backends) if (b.failures.size) out.push(`${b.name} failed tries: ${fmt(b.failures)}`);
    for (const c of this.sdk) {
      if (c.failures.size) out.push(`${c.name} failed publishes: ${fmt(c.failures)}`);
      if (c.disconnects.size) out.push(`${c.name} disconnects by code: ${fmt(c.disconnects)}`);
      if (c.subErrors.size) out.push(`${c.name} subscription errors (channel code): ${fmt(c.subErrors)}`);
    }
    for (const p of this.injector?.problems ?? []) out.push(`harness problem: ${p}`);
    return out;
  }

  /** The harness's own problems (a gateway that would not come back): the run cannot be trusted. */
  get problems(): readonly string[] {
    return this.injector?.problems ?? [];
  }

  /** Kills every process now, synchronously (on a crash, from an `exit` handler). */
  killNow(): void {
    this.sys?.killNow();
  }

  /** Keeps what every service running now has printed (for the event log file). */
  collectOutputs(): void {
    const sys = this.sys;
    if (!sys) return;
    for (const [i, g] of sys.gateways.entries()) this.log.output(`gateway ${i} (pid ${g.proc.pid})`, g.logs);
    if (sys.notifier) this.log.output(`notifier (pid ${sys.notifier.proc.pid})`, sys.notifier.logs);
  }

  /** Stops everything: faults in progress end (their targets come back), clients close, every process stops. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.injector?.abort();
    for (const c of this.sdk) c.stop();
    for (const c of this.chats) c.stop();
    for (const c of this.inboxes) c.stop();
    await this.injector?.done();
    await this.nc?.close().catch(() => undefined);
    const sys = this.sys ?? (await this.starting?.catch(() => undefined));
    await sys?.[Symbol.asyncDispose]();
  }
}

/** A receiver's own room, flooded while it is stalled. */
const bulkRoom = (user: string): string => `chat:bulk-${user}`;

const fmt = (m: ReadonlyMap<unknown, number>): string => [...m].map(([k, n]) => `${String(k)} x${n}`).join(", ");
