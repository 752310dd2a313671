// One service started alone (README, "run one service alone"), next to whatever else runs on the
// machine: a port another process holds stops it with exit 2 naming PORT, never a silent share;
// sharing a port is REUSE_PORT=1 in every process that shares it (what `GATEWAYS=N bun run dev`
// sets). And a gateway's start logs no false trouble about the ROOMS stream it creates itself.
import { describe, expect, test } from "bun:test";
import { freePort, runToExit, ServiceProcess, TEST_JWT_SECRET, TestNats, waitFor } from "@rt/testkit";
import { pidsListeningOn } from "../../scripts/dev/ready.ts";

/** A NATS URL nobody answers: the services bind their port before they connect. */
const deadNats = async () => `nats://127.0.0.1:${await freePort()}`;

describe("a standalone service on a taken port", () => {
  test.each([
    ["gateway", { JWT_SECRET: TEST_JWT_SECRET }, true],
    ["notifier", {}, true],
    ["metrics", {}, false],
  ] as const)("%s: exit 2, one line naming PORT, even when the holder shares its port (reusePort)", async (name, env, reusable) => {
    // The holder shares its port, as the launcher's gateways do: a service that shared by default would join it silently.
    using holder = Bun.serve({ port: 0, hostname: "0.0.0.0", reusePort: true, fetch: () => new Response("someone else") });
    const r = await runToExit(name, { ...env, PORT: String(holder.port), NATS_URL: await deadNats() }, 20_000);
    expect(r.code).toBe(2);
    const lines = r.output.trim().split("\n").filter((l) => l.startsWith(`${name}: `)); // the rest are JSON log records
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(`${name}: invalid configuration: PORT: ${holder.port} is already in use by another process`);
    expect(lines[0]!.includes("REUSE_PORT=1")).toBe(reusable);
    // The holder kept every request: nobody joined it.
    for (let i = 0; i < 8; i++) expect(await (await fetch(`http://127.0.0.1:${holder.port}/healthz`, { headers: { connection: "close" } })).text()).toBe("someone else");
  });

  test("REUSE_PORT must be 1 or 0", async () => {
    const r = await runToExit("gateway", { JWT_SECRET: TEST_JWT_SECRET, PORT: String(await freePort()), REUSE_PORT: "sometimes", NATS_URL: await deadNats() });
    expect(r.code).toBe(2);
    expect(r.output).toContain(`gateway: invalid configuration: REUSE_PORT: must be 1 or 0, got "sometimes"`);
  });

  test("two gateways share a port when both set REUSE_PORT=1 (the launcher's GATEWAYS=2), both serving it", async () => {
    await using nats = await TestNats.start();
    const port = await freePort();
    const env = { JWT_SECRET: TEST_JWT_SECRET, NATS_URL: nats.url, PORT: String(port), REUSE_PORT: "1" };
    await using a = await ServiceProcess.start("gateway", env);
    // b's /readyz may be answered by a: wait until both hold a listening socket on the port.
    await using b = await ServiceProcess.start("gateway", env, { waitReady: false });
    await waitFor("both gateways listening on the port", () => pidsListeningOn([a.proc.pid, b.proc.pid], port)?.size === 2);
    expect(b.proc.exitCode).toBeNull();
  });
});

describe("a gateway's start", () => {
  test("logs no warning about the ROOMS stream, which it creates itself: ready, then its epoch", async () => {
    await using nats = await TestNats.start();
    await using gw = await ServiceProcess.start("gateway", { JWT_SECRET: TEST_JWT_SECRET, NATS_URL: nats.url });
    const records = () => gw.logs.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { level: number; module?: string; msg: string; stream?: string });
    // Positive control: the ROOMS epoch is read (after the stream is in place), so a warning before it would be in the log by now.
    // The epoch may be logged just before "rooms stream ready": the stream's own creation advisory can
    // make it read the (existing) stream before the create's answer is handled. Order is not the point.
    const logged = (msg: string) => records().some((r) => (r.module === "rooms-epoch" || r.module === "rooms-store") && r.msg === msg);
    await waitFor("the rooms stream ready and its epoch logged", () => logged("stream epoch") && logged("rooms stream ready"));
    const rooms = records().filter((r) => r.stream === "ROOMS" || r.module === "rooms-epoch" || r.module === "rooms-store");
    expect(rooms.filter((r) => r.level >= 40)).toEqual([]);
    expect(rooms.map((r) => r.msg).sort()).toEqual(["rooms stream ready", "stream epoch"]);
  });
});
