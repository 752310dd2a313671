import type { NotifyRequest } from "@rt/protocol";
import type { Outcome } from "./outcome.ts";
import type { ParsedBody } from "./request.ts";

/** Most notifications of one batch stored at once (different users' go in parallel; one user's stay in order). */
const BATCH_WIDTH = 256;

/** The answer to a batch: one entry per notification, in order, each with its own `status` (and `{id, seq, epoch}` or `errors`). */
export interface BatchOutcome {
  /** 202 when every notification was stored (or was an idempotent repeat); 207 when some were not. */
  status: 202 | 207;
  body: Array<Record<string, unknown> & { status: number }>;
}

/** Sends one parsed request (a notification, or a batch of them); never throws. */
export async function sendParsed(parsed: ParsedBody, send: (req: NotifyRequest) => Promise<Outcome>): Promise<Outcome | BatchOutcome> {
  if (!parsed.ok) return parsed.outcome;
  if (!("batch" in parsed)) return send(parsed.request);
  const items = parsed.batch;
  const out: Outcome[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i]!;
      out[i] = item.ok ? await send(item.request) : item.outcome;
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_WIDTH, items.length) }, worker));
  const allStored = out.every((o) => o.status === 200 || o.status === 202);
  return { status: allStored ? 202 : 207, body: out.map((o) => ({ status: o.status, ...o.body })) };
}
