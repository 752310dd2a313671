import type { Msg } from "@nats-io/transport-node";
import type { Broker } from "../broker/broker.ts";
import type { GatewayRegistry } from "./gateways.ts";
import { PartsCollector, type Part } from "./parts.ts";

/** How long a question to every gateway waits for every live gateway's answer (one that died meanwhile is waited for this long, until it is known gone). */
export const GATHER_MS = 1000;
/** The largest answer part accepted from NATS. */
const MAX_PART_BYTES = 1024 * 1024;

/** The other gateways could not be asked (this gateway's NATS link is down): a temporary error for the caller. */
export class ClusterUnavailableError extends Error {}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A JSON payload from NATS, or undefined when it is too big or not JSON. */
export function readJson(msg: Msg, maxBytes: number): unknown {
  if (msg.data.byteLength > maxBytes) return undefined;
  try {
    return JSON.parse(decoder.decode(msg.data));
  } catch {
    return undefined;
  }
}

/**
 * Asks every other live gateway (as the registry knows them) on `subject` and collects their
 * answers, each in parts, checked by `isAnswer` (others are counted by `onInvalid` and dropped).
 * None known: nothing to ask. The link down while others are expected: ClusterUnavailableError.
 */
export async function askEveryGateway<A extends Part>(
  broker: Broker,
  registry: GatewayRegistry,
  subject: string,
  payload: string,
  isAnswer: (value: unknown) => value is A,
  onInvalid: () => void,
): Promise<ReadonlyMap<string, readonly A[]>> {
  const expected = registry.others;
  if (expected === 0) return new Map();
  if (!broker.connected()) throw new ClusterUnavailableError("the NATS link is down");
  const collector = new PartsCollector<A>(expected);
  await broker.gather(subject, payload, GATHER_MS, (msg) => {
    const value = readJson(msg, MAX_PART_BYTES);
    if (isAnswer(value)) return collector.take(value);
    onInvalid();
    return collector.done;
  });
  if (!collector.done && !broker.connected()) throw new ClusterUnavailableError("the NATS link dropped");
  return collector.answers();
}

/** Publishes `bodies` as the parts of this gateway's answer to `reply`. */
export function answerInParts(broker: Broker, reply: string, gateway: string, bodies: readonly object[]): void {
  bodies.forEach((body, part) => broker.publish(reply, JSON.stringify({ gateway, part, parts: bodies.length, ...body })));
}
