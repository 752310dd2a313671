// The Broker contract (broker-contract.ts) on NatsBroker and a real nats-server; the gateway's connection goes through a FaultProxy to be cut.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createLogger } from "@rt/runtime";
import { FaultProxy, NATS_ADMIN, TestNats } from "@rt/testkit";
import { NatsBroker } from "../src/broker/nats-broker.ts";
import { brokerContract } from "./broker-contract.ts";

brokerContract("NatsBroker on nats-server", async () => {
  const server = await TestNats.start();
  const link = await FaultProxy.start(server.port);
  const log = createLogger("test", "silent");
  const connected = async (url: string, name: string, noEcho: boolean) => {
    const b = new NatsBroker(log);
    await b.connect({ ...NATS_ADMIN, servers: [url], name, noEcho });
    return b;
  };
  const gw = await connected(link.url, "contract-gw", true);
  const peer = await connected(server.url, "contract-peer", false);
  const third = await connected(server.url, "contract-third", false);
  const admin = await connect({ ...NATS_ADMIN, servers: server.url });
  const jsm = await jetstreamManager(admin);
  const late: NatsBroker[] = [];
  return {
    gw, peer, third,
    later: () => {
      const broker = new NatsBroker(log);
      late.push(broker);
      return { broker, connect: () => broker.connect({ ...NATS_ADMIN, servers: [server.url], name: "contract-later", noEcho: true }) };
    },
    deleteStream: async (name) => void (await jsm.streams.delete(name)),
    cut: () => link.cut(),
    restore: () => link.restore(),
    async [Symbol.asyncDispose]() {
      for (const b of [gw, peer, third, ...late]) await b.close();
      await admin.close();
      await link[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
});
