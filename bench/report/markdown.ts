import { si } from "../lib/stats.ts";
import { transportsMarkdown } from "./transports.ts";
import type { BenchResults, Check } from "./types.ts";

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");

function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

function checkValue(c: Check): string {
  if (c.value === null) return "n/a";
  const spread = c.rounds && c.rounds.length > 1 ? ` (rounds ${Math.min(...c.rounds)}-${Math.max(...c.rounds)})` : "";
  return `${c.value} ${c.unit}${spread}`;
}

/** True when other work kept the machine busy: the 1-minute load average was above the CPU count before the run began (the run itself keeps every core busy, so the end says little). */
export function loaded(r: BenchResults): boolean {
  return (r.meta.loadAvg.start[0] ?? 0) > r.meta.cpus;
}

/** The results as a markdown report. */
export function markdown(r: BenchResults): string {
  const out: string[] = [];
  const m = r.meta;
  out.push(`# Gateway benchmark${m.quick ? " (quick)" : ""}`);
  out.push("");
  out.push(
    `${m.startedAt}, ${m.durationSec} s, commit ${m.commit}, bun ${m.bun}, node ${m.node}, ${m.cpus} CPUs, ` +
      `load average ${m.loadAvg.start.join(" ")} at the start, ${m.loadAvg.end.join(" ")} at the end. ${m.note}`,
  );
  out.push("");
  if (loaded(r)) {
    out.push(
      `**Taken on a loaded machine**: the load average was ${m.loadAvg.start[0]} before the run began, above the CPU count (${m.cpus}): other work shared the cores with the run. ` +
        "Absolute rates and latencies are below what this machine gives alone, and tails are longer; ratios of rounds taken seconds apart hold better (their round-by-round spread is shown), and each time target has its floor from the same run beside it.",
    );
    out.push("");
  }
  out.push("## Targets");
  out.push("");
  out.push("A time target shows beside it the floor measured in the same run: what this machine gives at best for the same work without the product, so a slow machine can be told from slow code.");
  out.push("");
  out.push(
    table(
      ["target", "measured", "wanted", "result", "floor (same run)"],
      r.checks.map((c) => [c.name, checkValue(c), `${c.op} ${c.threshold}`, c.pass ? "PASS" : `**FAIL**${c.note ? ` (${c.note})` : ""}`, c.floor ? `${c.floor.value === null ? "n/a" : `${c.floor.value} ${c.unit}`} (${c.floor.what})` : ""]),
    ),
  );
  out.push("");
  out.push("## Room fan-out and scale-out");
  out.push("");
  out.push(
    "One room; 4 members send 32-byte messages, keeping `window` messages in flight (until the first sender on every server process has it back); every member (senders included) counts what it receives. " +
      "A delivery is one message reaching one socket; frames/s counts WebSocket frames, fewer than deliveries where the server puts several pushes in one frame (the client protocol does, as Centrifugo does: one line each). " +
      "`socketio`: Socket.IO 4.8 in two Node processes sharing the room through @socket.io/redis-adapter; a delivery is one event packet (`42[\"msg\",...]`), Engine.IO pings are answered and not counted. " +
      "Best of the interleaved rounds; deliveries per CPU-second = deliveries/s divided by the server processes' CPU share (the WebSocket servers' only: neither nats-server nor redis-server is counted). " +
      `Targets are checked at ${m.checkedFanoutSizes.join(" and ")} members; other sizes are for information (a small room shows the per-message cost). ` +
      "The floors are raw Bun rooms (one process) whose every message crosses NATS as the gateway's must: `nats-floor` publishes it on core NATS and fans out on the NATS delivery; `jetstream-floor` stores it in a stream with RePublish (no ack awaited) and fans out on the republished copy. " +
      "`gateway-nohistory` (with --no-history) is the client protocol in `live:`, a namespace without history from a CHANNELS_FILE.",
  );
  out.push("");
  if (m.goPeer) {
    out.push(
      `\`centrifuge-go\`: the Go centrifuge library (${m.goPeer.library}, ${m.goPeer.protocol}, ${m.goPeer.go}; Debian's packages), the library Centrifugo is built on, in bench/baselines/centrifuge-go: in-memory broker, \`chat:\` with history (100, 300 s) and recovery, subscribers publish, anonymous, WebSocket with an hourly ping, through its JSON protocol v1 (\`{"id","method","params"}\`). ` +
        `Its publishes need an id, so each sender gets a reply per publish (not counted); it packs at most ${m.goPeer.maxMessagesPerFrame} messages per frame (the gateway packs a turn's pushes of a channel into one).`,
    );
    out.push("");
  }
  out.push(
    table(
      ["members", "target", "server processes", "window", "deliveries/s (best)", "frames/s", "median", "server CPU", "nats-server CPU", "deliveries per CPU-s", "rounds", "lost"],
      r.fanout.map((x) => [
        si(x.members),
        x.target,
        x.processes,
        x.window,
        x.skipped ? `skipped: ${x.skipped}` : x.error ? `error: ${x.error}` : si(x.deliveriesPerSec),
        si(x.framesPerSec),
        si(x.medianDeliveriesPerSec),
        `${x.serverCpuPercent}%`,
        x.natsCpuPercent === undefined ? "" : `${x.natsCpuPercent}%`,
        si(x.deliveriesPerCpuSec),
        x.rounds.map((y) => si(y.deliveriesPerSec)).join(", "),
        x.lost,
      ]),
    ),
  );
  out.push("");
  if (r.rooms?.length) {
    out.push("## Many rooms at once");
    out.push("");
    out.push(
      "Rooms spread over the server processes (half the members on each, the one sender of each room alternating between them), every room active: each keeps `window` messages in flight (until its sender and its first member on the other process have it). Each target runs alone. " +
        "KB per room: the servers' (or nats-server's) RSS growth from before the members opened to after the last round, over the rooms (its members' connections included). Subscriptions: nats-server's `/subsz` count, growth per room. nats-server CPU: the highest of the measured rounds. nats-server is shared by the arms and its Go heap returns memory at its own pace, so its KB per room is cleanest for the first arm (the gateway) and can even come out below zero for a later one.",
    );
    out.push("");
    out.push(
      table(
        ["rooms x members", "target", "server processes", "window per room", "deliveries/s (best)", "frames/s", "median", "server CPU", "nats-server CPU", "servers KB per room", "nats-server KB per room", "NATS subscriptions per room", "rounds", "lost"],
        r.rooms.map((x) => [
          `${si(x.rooms)} x ${x.members}`,
          x.target,
          x.processes,
          x.window,
          x.error ? `error: ${x.error}` : si(x.deliveriesPerSec),
          si(x.framesPerSec),
          si(x.medianDeliveriesPerSec),
          `${x.serverCpuPercent}%`,
          `${x.natsCpuPercent}%`,
          f2(x.kbPerRoom),
          f2(x.natsKbPerRoom),
          `${x.natsSubsPerRoom} (${x.natsSubsBefore} → ${x.natsSubsAfter})`,
          x.rounds.map((y) => si(y.deliveriesPerSec)).join(", "),
          x.lost,
        ]),
      ),
    );
    out.push("");
  }
  if (r.roomLatency?.length) {
    out.push("## Latency in rooms under load (publish to delivery, two server processes)");
    out.push("");
    out.push(
      "Publications sent open loop at a fixed rate over all rooms (round-robin; each room's sender alternates between the processes), each carrying its wall-clock send time; one member of each room on each process times every delivery, the others count. " +
        "The JetStream floor beside the gateway: the same rooms on raw Bun whose every message is stored in a stream and fanned out from its republished copy. Late sends: sends more than 5 ms behind their due time (the load generator fell behind).",
    );
    out.push("");
    out.push(
      table(
        ["target", "rooms x members", "rate/s", "sent", "late sends", "delivered/expected", "timed", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "server CPU", "nats-server CPU", "lost", "dup"],
        r.roomLatency.map((x) => [
          x.target,
          `${si(x.rooms)} x ${x.members}`,
          x.ratePerSec,
          x.sent,
          x.lateSends,
          x.error && x.expected === 0 ? `error: ${x.error}` : `${x.delivered}/${x.expected}`,
          x.latencyMs.count,
          f2(x.latencyMs.p50),
          f2(x.latencyMs.p90),
          f2(x.latencyMs.p99),
          f2(x.latencyMs.p999),
          f2(x.latencyMs.max),
          `${x.serverCpuPercent}%`,
          `${x.natsCpuPercent}%`,
          x.lost,
          x.duplicates,
        ]),
      ),
    );
    out.push("");
  }
  out.push("## Ratios");
  out.push("");
  out.push("Best round over best round; for fan-out, also round by round (round k of one target over round k of the other, measured seconds apart): their range is the run-to-run spread on this machine.");
  out.push("");
  const spread = (k: string): string => {
    const v = r.ratioRounds?.[k];
    return v && v.length > 0 ? `${Math.min(...v)}-${Math.max(...v)} (${v.join(", ")})` : "";
  };
  out.push(table(["ratio", "value", "round by round"], Object.entries(r.ratios).map(([k, v]) => [k, v === null ? "n/a" : String(v), spread(k)])));
  out.push("");
  out.push("## Idle sockets");
  out.push("");
  out.push("Room sockets (rooms of 100) opened and left idle; KB per socket = server VmRSS growth / sockets (KiB). The second-half column is the growth while the second half opened, per socket of that half. `gateway-protocol` and `centrifuge-go` (the Go peer) sockets are connected and subscribed to their room's `chat:` channel.");
  out.push("");
  out.push(
    table(
      ["sockets", "target", "server processes", "client processes", "RSS before", "RSS after", "KB per socket", "second half, KB per socket", "idle CPU", "dropped"],
      r.idle.map((x) => [
        si(x.sockets),
        x.target,
        x.processes,
        x.clientWorkers,
        x.error ? `error: ${x.error}` : `${(x.rssBeforeBytes / 2 ** 20).toFixed(1)} MiB`,
        `${(x.rssAfterBytes / 2 ** 20).toFixed(1)} MiB`,
        f2(x.kbPerSocket),
        f2(x.marginalKbPerSocket),
        `${x.idleCpuPercent}%`,
        x.unexpectedCloses,
      ]),
    ),
  );
  out.push("");
  out.push("## Notification latency (notifier POST to socket receive, two gateways)");
  out.push("");
  out.push(
    "Open-loop POSTs at a fixed rate; the body carries the send time. Every user has a `/notifications` socket on each gateway and a client protocol connection (its inbox `#user`, subscribed at connect) on the second. The POST column is the notifier's answer time (stored in JetStream); the after-the-202 column is each delivery's receive time minus its 202's arrival (the live path; negative when the socket beat the HTTP answer). " +
      "The floor (`NATS floor`), measured after them at the same rates for as many users: a bare NATS publish of the same body to the user's subject, a raw Bun subscriber (the NATS-hop floor, two processes), a WebSocket write to the user's socket on each.",
  );
  out.push("");
  out.push(
    table(
      ["to", "rate/s", "achieved", "users", "sockets", "delivered/expected", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "POST (202) p50/p99 ms", "after the 202 p50/p99 ms", "lost", "dup"],
      r.latency.map((x) => [
        x.via === "nats-floor" ? "NATS floor" : (x.via ?? "notifications") === "protocol" ? "client protocol" : "/notifications",
        x.ratePerSec,
        x.achievedRatePerSec,
        x.users,
        x.users * x.socketsPerUser,
        x.error && x.expected === 0 ? `error: ${x.error}` : `${x.delivered}/${x.expected}`,
        f2(x.latencyMs.p50),
        f2(x.latencyMs.p90),
        f2(x.latencyMs.p99),
        f2(x.latencyMs.p999),
        f2(x.latencyMs.max),
        `${f2(x.postMs.p50)} / ${f2(x.postMs.p99)}`,
        `${f2(x.afterAckMs.p50)} / ${f2(x.afterAckMs.p99)}`,
        x.lost,
        x.duplicates,
      ]),
    ),
  );
  out.push("");
  out.push("## Monitor fan-out (one sample, published on NATS, to every /system-monitor socket of one gateway)");
  out.push("");
  out.push(
    table(
      ["sockets", "samples", "first socket ms (p50)", "last socket ms p50", "last socket ms max", "all samples (ms)", "raw Bun, same fan-out, last ms p50", "lost"],
      r.monitor.map((x) => [
        si(x.sockets),
        x.samples,
        x.error ? `error: ${x.error}` : f2([...x.firstMs].sort((a, b) => a - b)[Math.floor(x.firstMs.length / 2)] ?? NaN),
        f2(x.p50LastMs),
        f2(x.maxLastMs),
        x.lastMs.map(f2).join(", "),
        f2(x.rawBunP50LastMs),
        x.lost,
      ]),
    ),
  );
  if (r.presence?.length) {
    out.push("");
    out.push("## Presence (one room spread over gateways; one protocol client asks, one call at a time)");
    out.push("");
    out.push(
      table(
        ["members", "gateways", "calls", "presence p50 / p99 ms", "reply bytes", "CPU ms per call (all gateways)", "presence_stats p50 / p99 ms", "reply bytes", "CPU ms per call", "missing"],
        r.presence.map((x) => [
          si(x.members),
          x.gateways,
          x.calls,
          x.error ? `error: ${x.error}` : `${f2(x.listMs.p50)} / ${f2(x.listMs.p99)}`,
          si(x.listReplyBytes),
          f2(x.listCpuMs),
          `${f2(x.statsMs.p50)} / ${f2(x.statsMs.p99)}`,
          x.statsReplyBytes,
          f2(x.statsCpuMs),
          x.lost,
        ]),
      ),
    );
  }
  if (r.codec?.length) {
    out.push("");
    out.push("## JSON and Protobuf per publication (the gateway's encoders, the SDK's decoders, in-process)");
    out.push("");
    out.push("Encode: building one push frame, done once per publication per encoding whatever the number of subscribers. Client decode: the SDK's frame decoder, then the data as a JSON value (Protobuf clients get it as bytes).");
    out.push("");
    out.push(
      table(
        ["publication", "data bytes", "JSON frame bytes", "Protobuf frame bytes", "Protobuf / JSON bytes", "encode ns JSON / Protobuf", "client decode ns JSON / Protobuf"],
        r.codec.map((x) => [x.shape, x.dataBytes, x.jsonBytes, x.protobufBytes, f2(x.protobufBytes / x.jsonBytes), `${x.jsonEncodeNs} / ${x.protobufEncodeNs}`, x.error ? `error: ${x.error}` : `${x.jsonDecodeNs} / ${x.protobufDecodeNs}`]),
      ),
    );
  }
  if (r.delta?.length) {
    out.push("");
    out.push("## Fossil deltas (a document that changes a little each time, in-process)");
    out.push("");
    out.push("A ~4 KB scoreboard, one row changed per publication: bytes per publication for a plain subscriber and a `delta: 'fossil'` one, and one publication's delta (computed once per channel, whatever the number of subscribers and encodings).");
    out.push("");
    out.push(
      table(
        ["document bytes", "publications", "data whole / delta", "JSON frame plain / delta", "Protobuf frame plain / delta", "saved: data / JSON / Protobuf", "delta µs p50 / p99", "64 KiB doc: delta µs p50 / p99"],
        r.delta.map((x) => [
          x.docBytes,
          x.publications,
          `${x.dataBytes.whole} / ${x.dataBytes.delta}`,
          `${x.jsonFrameBytes.plain} / ${x.jsonFrameBytes.delta}`,
          `${x.protobufFrameBytes.plain} / ${x.protobufFrameBytes.delta}`,
          x.error ? `error: ${x.error}` : `${x.savedPct.data}% / ${x.savedPct.json}% / ${x.savedPct.protobuf}%`,
          `${x.deltaMicros.median} / ${x.deltaMicros.p99}`,
          `${x.largeDeltaMicros.median} / ${x.largeDeltaMicros.p99} (${x.largeDocBytes} B)`,
        ]),
      ),
    );
  }
  if (r.transports?.length) out.push(...transportsMarkdown(r.transports));
  if (r.api?.length) {
    out.push("");
    out.push("## The notifier's HTTP API (a gateway running; one sender = one request at a time)");
    out.push("");
    out.push(
      table(
        ["requests", "load generator", "senders", "items per request", "items stored and acknowledged /s", "request p50 / p99 ms", "requests", "not stored"],
        r.api.map((x) => [x.arm, x.generator ?? "bun", x.senders, x.itemsPerRequest, x.error ? `error: ${x.error}` : si(x.itemsPerSec), `${f2(x.latencyMs.p50)} / ${f2(x.latencyMs.p99)}`, x.requests, x.errors]),
      ),
    );
  }
  if (r.replay?.length) {
    out.push("");
    out.push("## Replay (missed notifications recovered when a client comes back; one gateway)");
    out.push("");
    out.push(
      "A client is positioned in its inbox and goes away; that many notifications are stored (one batch POST); it comes back asking to recover: time from opening the socket to the last missed notification received. " +
        "Client protocol: `connect` with `subs: {\"#user\": {recover, offset, epoch}}`; `/notifications?since=&epoch=`. Each round a new user, after one warm-up round. The gateway reads the first few with single gets, the rest through an ephemeral JetStream consumer.",
    );
    out.push("");
    out.push(
      table(
        ["via", "missed", "rounds", "p50 ms", "slowest ms", "recovered", "lost", "duplicates"],
        r.replay.map((x) => [x.via === "protocol" ? "client protocol (connect, recover)" : "/notifications?since=", x.missed, x.ms.count, x.error ? `error: ${x.error}` : f2(x.ms.p50), f2(x.ms.max), x.recovered, x.lost, x.duplicates]),
      ),
    );
  }
  if (r.connect?.length) {
    out.push("");
    out.push("## Connect storm (one server; each client its own user and HS256 token, signed beforehand)");
    out.push("");
    out.push(
      "Each client opens `/connection/websocket` and sends connect + subscribe (`chat:storm`) in one frame; a client process keeps `concurrency` clients between TCP connect and subscribe reply. " +
        "Connections/s = clients whose subscribe reply arrived without error / (first TCP connect to last subscribe reply). The notifier runs, so each connect also places the user's inbox. A warm-up storm of a tenth of the clients runs first. " +
        "`centrifuge-go`: the same storm to the Go peer (its protocol v1; it checks the same HS256 tokens and subscribes the user's `#<user>` on its side). `raw-bun`: the floor, accept and upgrade alone (`/chat/storm` on raw Bun, no token, no reply), a client counted at its 101.",
    );
    out.push("");
    out.push(
      table(
        ["server", "clients", "client processes", "concurrency", "connections/s", "duration ms", "connect to reply p50 / p99 ms", "server CPU", "CPU ms a connection", "nats-server CPU", "client CPU", "failed"],
        r.connect.map((x) => [
          x.target ?? "gateway",
          si(x.clients),
          x.clientWorkers,
          x.concurrency,
          x.error ? `error: ${x.error}` : si(x.connectionsPerSec),
          x.durationMs,
          `${f2(x.connectMs.p50)} / ${f2(x.connectMs.p99)}`,
          `${x.serverCpuPercent}%`,
          f2(x.cpuMsPerConnection),
          `${x.natsCpuPercent}%`,
          `${x.clientCpuPercent}%`,
          x.failed > 0 ? `${x.failed} (${Object.entries(x.failures).map(([k, v]) => `${k}: ${v}`).join(", ")})` : 0,
        ]),
      ),
    );
  }
  if (r.reconnect?.length) {
    out.push("");
    out.push("## Reconnect storm (gateway A stopped; its clients recover on gateway B)");
    out.push("");
    out.push(
      "Clients (JWT each) subscribed to one `chat:` room on A, a few on B; the notifier's API publishes into the room at a fixed rate throughout. A is stopped (SIGKILL, or SIGTERM: close 3001); " +
        "each client of A waits a random 0 to `jitter` ms after its socket closed, then connects to B with `subscribe {recover, offset, epoch}`. Recovered: the reply said `recovered: true` and the client has every offset up to the publisher's position at the signal. " +
        "Missing: offsets a client (on A or B) never got, from its first subscribe to the last publication: gaps between offsets it got, and what it still lacked at the end (a client that never came back lacks everything after its last); duplicates: offsets got twice. " +
        "Each round has gateways of its own.",
    );
    out.push("");
    out.push(
      table(
        ["signal", "clients on A / B", "publications/s", "jitter ms", "history", "recovered", "all recovered s", "recovery p50 / p99 ms", "reconnects", "close codes", "gateway B / nats-server CPU", "missing", "duplicates", "not recovered"],
        r.reconnect.map((x) => [
          x.signal,
          `${si(x.clients)} / ${x.onOther}`,
          x.ratePerSec,
          x.jitterMs,
          x.historySize,
          x.error && x.recovered === 0 ? `error: ${x.error}` : `${x.recovered}/${x.clients}`,
          x.allRecoveredMs === null ? "n/a" : f2(x.allRecoveredMs / 1000),
          `${f2(x.recoveryMs.p50)} / ${f2(x.recoveryMs.p99)}`,
          x.reconnects,
          Object.entries(x.closeCodes).map(([k, v]) => `${k}: ${v}`).join(", "),
          `${x.serverCpuPercent}% / ${x.natsCpuPercent}%`,
          x.missing > 0 ? `${x.missing} (gaps ${x.gaps}, behind at the end ${x.behind})` : 0,
          x.duplicates,
          x.notRecovered,
        ]),
      ),
    );
  }
  if (r.errors.length) {
    out.push("");
    out.push("## Errors");
    out.push("");
    for (const e of r.errors) out.push(`- ${e}`);
  }
  out.push("");
  return out.join("\n");
}
