import type { TestSocket } from "./ws-client.ts";

/** Room frames whose text starts with this are probes (roomTexts leaves them out). */
const PROBE = "probe-";

/**
 * Sends a probe on `sender` (a `/chat/{room}` socket) until every socket of `others` has it. After
 * it, the room is live on their gateways for what `sender`'s gateway publishes, and anything that
 * gateway fanned out to them before the probe has arrived (one sender's messages keep their
 * order). A gateway places a room asynchronously after its first member joins, and a probe
 * published before that is not delivered there: the probe is sent again each time `resendMs`
 * passes without all of them having it (a pace for the resends: any copy that arrives will do).
 */
export async function roomJoined(sender: TestSocket, others: TestSocket[], room: string, timeoutMs = 10_000, resendMs = 100): Promise<void> {
  const text = `Room ${room}: ${PROBE}${Math.random().toString(36).slice(2)}`;
  const all = () => others.every((s) => s.messages.includes(text));
  const deadline = Date.now() + timeoutMs;
  while (!all()) {
    if (Date.now() > deadline) throw new Error(`room ${room}: the probe did not reach every socket within ${timeoutMs} ms`);
    sender.send(text.slice(`Room ${room}: `.length));
    await Promise.all(others.map((s) => s.until(() => s.messages.includes(text), "the probe", resendMs))).catch(() => undefined);
  }
}

/** The room messages a socket received, without the probes (and without the `Room {room}: ` prefix). */
export const roomTexts = (s: TestSocket, room: string): string[] =>
  s.messages.filter((m) => !m.startsWith(`Room ${room}: ${PROBE}`)).map((m) => m.slice(`Room ${room}: `.length));
