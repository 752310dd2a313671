// The Broker contract (broker-contract.ts) on MemoryBroker: three connections to one MemoryNats.
import { createLogger } from "@rt/runtime";
import { MemoryBroker } from "../src/broker/broker-memory.ts";
import { MemoryNats } from "../src/broker/memory-nats.ts";
import { brokerContract } from "./broker-contract.ts";

brokerContract("MemoryBroker", async () => {
  const nats = new MemoryNats();
  const log = createLogger("test", "silent");
  const gw = new MemoryBroker(nats, log, { noEcho: true });
  const peer = new MemoryBroker(nats, log);
  const third = new MemoryBroker(nats, log);
  for (const b of [gw, peer, third]) await b.connect();
  const late: MemoryBroker[] = [];
  return {
    gw, peer, third,
    later: () => {
      const broker = new MemoryBroker(nats, log, { noEcho: true });
      late.push(broker);
      return { broker, connect: () => broker.connect() };
    },
    deleteStream: async (name) => nats.delete(name),
    cut: () => gw.drop(),
    restore: () => gw.restore(),
    async [Symbol.asyncDispose]() {
      for (const b of [gw, peer, third, ...late]) await b.close();
    },
  };
});
