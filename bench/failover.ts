// Where the seconds go when a node of a 3-node NATS cluster is lost under a room's traffic.
//
//   bun run bench/failover.ts [--rounds N] [--kinds leader,publisher,receiver] [--term | --stop]
//
// Per round: a fresh TestCluster (R3 streams) and two gateways; a room with a `/chat/` sender
// and an SDK sender on gateway 0, and receivers on both (a `/chat/` socket on gateway 1, SDK
// subscribers on both). Publications go out every 50 ms from each sender; after a second one
// node is killed (SIGKILL; `--term`: SIGTERM, a clean shutdown; `--stop`: SIGSTOP, a hung node) at t0:
//   leader     the node leading ROOMS (moved off the gateways' nodes first, so only the leader is lost)
//   publisher  the node gateway 0 is connected to (the leader moved off it first)
//   receiver   the node gateway 1 is connected to (likewise)
//   leader-publisher  the node gateway 0 is connected to, leading ROOMS (the leader moved there)
// It prints, from t0: when each gateway's link dropped and came back (their logs), when the new
// ROOMS leader was announced (the LEADER_ELECTED advisory), when the first publication sent after
// t0 arrived everywhere, and the longest send-to-arrival time of any publication (the outage).
import { connect } from "@nats-io/transport-node";
import { ROOMS_STREAM } from "@rt/protocol";
import { NATS_ADMIN, RoomPulse, SdkClient, TestSocket, TestSystem, roomJoined, signToken } from "@rt/testkit";

type Kind = "leader" | "publisher" | "receiver" | "leader-publisher";
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const rounds = Number(opt("rounds", "3"));
const kinds = opt("kinds", "leader,publisher,receiver").split(",") as Kind[];
const hung = args.includes("--stop");
const term = args.includes("--term");

interface Round {
  kind: Kind;
  victim: string;
  leaderElectedMs: number | undefined;
  links: string;
  firstAfterMs: number | undefined;
  longestMs: number;
  allMs: number;
  ok: boolean;
  refused: number;
}

/** Times (ms after t0) of the gateway's log lines about its NATS link. */
function linkTimes(logs: string, t0Wall: number): string {
  const out: string[] = [];
  for (const line of logs.split("\n")) {
    if (!line.includes("nats disconnected") && !line.includes("nats reconnected")) continue;
    try {
      const j = JSON.parse(line) as { time: number; msg: string };
      if (j.time >= t0Wall - 50) out.push(`${j.msg.replace("nats ", "")}@${j.time - t0Wall}`);
    } catch {
      // not a JSON line
    }
  }
  return out.join(" ") || "-";
}

async function round(kind: Kind): Promise<Round> {
  await using sys = await TestSystem.start({ cluster: true, gateways: 2, gatewayEnv: { LOG_LEVEL: "info", ROOM_HISTORY_SIZE: "5000" } });
  const cluster = sys.cluster!;
  await cluster.waitStreamHealthy(ROOMS_STREAM, 3);
  const room = "failover";
  await using chatA = await TestSocket.open(`${sys.gw(0).ws}/chat/${room}`);
  await using chatB = await TestSocket.open(`${sys.gw(1).ws}/chat/${room}`);
  await roomJoined(chatA, [chatB], room);
  const sdk = async (gw: number, user: string) => {
    const c = SdkClient.create(`${sys.gw(gw).ws}/connection/websocket`, { token: await signToken(user) });
    await c.connect();
    return { c, sub: await c.subscribe(`chat:${room}`) };
  };
  const pubA = await sdk(0, "pub-a");
  const subB = await sdk(1, "sub-b");
  try {
    const nodeOf = (gw: number) => cluster.clientNode(`gateway-${sys.gw(gw).proc.pid}`);
    const [n0, n1] = [await nodeOf(0), await nodeOf(1)];
    let victim: string;
    if (kind === "leader") {
      const others = cluster.nodes.map((n) => n.name).filter((n) => n !== n0 && n !== n1);
      // Only the leader lost: when a node holds neither gateway, lead from there.
      victim = others.length > 0 ? await cluster.leaderOff(ROOMS_STREAM, [n0, n1]) : await cluster.streamLeader(ROOMS_STREAM);
    } else if (kind === "leader-publisher") {
      victim = await cluster.leaderTo(ROOMS_STREAM, n0!);
    } else {
      victim = (kind === "publisher" ? n0 : n1)!;
      await cluster.leaderOff(ROOMS_STREAM, [victim]);
    }
    const pulse = new RoomPulse(room, [{ prefix: "c", via: { kind: "chat", socket: chatA } }, { prefix: "s", via: { kind: "sdk", sub: pubA.sub } }], [
      { name: "chat@gw1", kind: "chat", socket: chatB },
      { name: "sdk@gw0", kind: "sdk", sub: pubA.sub },
      { name: "sdk@gw1", kind: "sdk", sub: subB.sub },
    ]);
    const nc = await connect({ ...NATS_ADMIN, servers: cluster.nodes.filter((n) => n.name !== victim).map((n) => `127.0.0.1:${n.port}`) });
    let elected: number | undefined;
    nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${ROOMS_STREAM}`, { callback: () => void (elected ??= performance.now()) });
    await nc.flush();
    for (let i = 0; i < 20; i++) {
      pulse.pulse();
      await Bun.sleep(50);
    }
    await pulse.all("before the loss", 10_000);
    const t0 = performance.now();
    const t0Wall = Date.now();
    const node = cluster.node(victim);
    if (hung) node.proc!.kill("SIGSTOP");
    else await cluster.kill(victim, !term);
    const firstAfter = `c${pulse.sent / 2 + 1}`;
    // Pulses until the first one sent after the loss is everywhere, then 10 more.
    let extra = 0;
    while (extra < 10) {
      pulse.pulse();
      await Bun.sleep(50);
      if (["chat@gw1", "sdk@gw0", "sdk@gw1"].every((r) => pulse.has(r, firstAfter))) extra++;
      if (performance.now() - t0 > 60_000) break;
    }
    await pulse.all("after the loss", 30_000).catch(() => undefined);
    const allMs = performance.now() - t0;
    const report = await pulse.report();
    const arrivals = ["chat@gw1", "sdk@gw0", "sdk@gw1"].map((r) => pulse.arrivedAt(r, firstAfter) ?? Infinity);
    if (hung) node.proc!.kill("SIGCONT");
    // SDK publishes answered 100 (stored later than the 4 s a publish waits) count apart: they must still arrive, once, in order.
    const ok = report.receivers.every((r) => r.missing.length === 0 && r.duplicates.length === 0 && r.outOfOrder.length === 0) && report.refused.every((r) => r.error.includes('"code":100'));
    if (!ok && process.env.FAILOVER_LOGS) for (const i of [0, 1]) await Bun.write(`${process.env.FAILOVER_LOGS}/gw${i}.log`, sys.gw(i).logs);
    if (!ok && process.env.FAILOVER_LOGS) {
      const { jetstream } = await import("@nats-io/jetstream");
      const c = await jetstream(nc).consumers.get(ROOMS_STREAM);
      const lines: string[] = [];
      const it = await c.fetch({ max_messages: 100_000, expires: 3000 });
      for await (const m of it) {
        lines.push(`${m.seq} ${m.subject} ${m.headers?.get("Nats-Msg-Id")} ${new TextDecoder().decode(m.data)}`);
        if (m.info.pending === 0) break;
      }
      await Bun.write(`${process.env.FAILOVER_LOGS}/stream.txt`, lines.join("\n"));
    }
    if (!ok) console.log(JSON.stringify({ refused: report.refused.slice(0, 5), receivers: report.receivers.map((r) => ({ ...r, missing: r.missing.slice(0, 20), duplicates: r.duplicates.slice(0, 10), outOfOrder: r.outOfOrder.slice(0, 10) })) }));
    await nc.close();
    return {
      kind,
      victim: `${victim}${victim === n0 ? "(gw0)" : ""}${victim === n1 ? "(gw1)" : ""}`,
      leaderElectedMs: elected === undefined ? undefined : elected - t0,
      links: `gw0 ${linkTimes(sys.gw(0).logs, t0Wall)}; gw1 ${linkTimes(sys.gw(1).logs, t0Wall)}`,
      firstAfterMs: Math.max(...arrivals) - pulse.sentTime(firstAfter)!,
      longestMs: report.longestMs,
      allMs,
      ok,
      refused: report.refused.length,
    };
  } finally {
    pubA.c.centrifuge.disconnect();
    subB.c.centrifuge.disconnect();
  }
}

const rows: Round[] = [];
for (let r = 0; r < rounds; r++) {
  for (const kind of kinds) {
    let row: Round;
    try {
      row = await round(kind);
    } catch (err) {
      console.log(`${kind}: the round could not run: ${String(err).split("\n")[0]}`);
      continue;
    }
    rows.push(row);
    const f = (ms: number | undefined) => (ms === undefined ? "-" : `${Math.round(ms)}`);
    console.log(`${kind.padEnd(9)} killed ${row.victim.padEnd(9)} leader elected +${f(row.leaderElectedMs)} ms; first sent after the loss arrived after ${f(row.firstAfterMs)} ms; longest ${f(row.longestMs)} ms; ${row.ok ? "all once, in order" : "NOT ALL ONCE IN ORDER"}${row.refused ? `, ${row.refused} SDK publishes answered 100 (delivered all the same)` : ""}; links: ${row.links}`);
  }
}
for (const kind of kinds) {
  const mine = rows.filter((r) => r.kind === kind).map((r) => r.longestMs).sort((a, b) => a - b);
  console.log(`failover: ${kind}: longest send-to-arrival ${mine.map((m) => Math.round(m)).join(", ")} ms (max ${Math.round(mine.at(-1) ?? 0)})`);
}
process.exit(rows.length > 0 && rows.every((r) => r.ok) ? 0 : 1);
