import { measureDelta } from "../../services/gateway/bench/delta.ts";
import type { Ctx } from "../lib/plan.ts";
import type { DeltaResult } from "../report/types.ts";

/**
 * Fossil deltas on a document that changes a little each time (a ~4 KB scoreboard, one row a
 * publication), in-process with the gateway's own delta code and push encoders: the bytes a delta
 * subscriber gets against a plain one, and what one publication's delta costs (computed once per
 * channel, whatever the number of subscribers). `bun run services/gateway/bench/delta.ts` alone prints more.
 */
export async function runDelta(ctx: Ctx): Promise<DeltaResult[]> {
  ctx.progress.status("delta: fossil deltas on a ~4 KB document");
  const m = measureDelta({ publications: ctx.quick ? 300 : 2000 });
  const per = (v: number) => Math.round(v / m.publications);
  const saved = (delta: number, whole: number) => Math.round((1000 * (whole - delta)) / whole) / 10;
  return [
    {
      docBytes: m.docBytes,
      publications: m.publications,
      dataBytes: { whole: per(m.dataBytes.whole), delta: per(m.dataBytes.delta) },
      jsonFrameBytes: { plain: per(m.frameBytes.json.plain), delta: per(m.frameBytes.json.delta) },
      protobufFrameBytes: { plain: per(m.frameBytes.protobuf.plain), delta: per(m.frameBytes.protobuf.delta) },
      savedPct: { data: saved(m.dataBytes.delta, m.dataBytes.whole), json: saved(m.frameBytes.json.delta, m.frameBytes.json.plain), protobuf: saved(m.frameBytes.protobuf.delta, m.frameBytes.protobuf.plain) },
      deltaMicros: m.nextMicros,
      largeDocBytes: m.largeDocBytes,
      largeDeltaMicros: m.largeDeltaMicros,
      lost: 0,
    },
  ];
}
