import { Centrifuge as JsonCentrifuge } from "centrifuge";
import { Centrifuge as ProtobufCentrifuge } from "centrifuge/build/protobuf";
import { protobufPushes } from "../../services/gateway/src/protocols/centrifugo/codec-protobuf.ts";
import { jsonPushes, type PushEncoding } from "../../services/gateway/src/protocols/centrifugo/push.ts";
import type { Ctx } from "../lib/plan.ts";
import { round } from "../lib/stats.ts";
import type { CodecResult } from "../report/types.ts";

/** The SDK's own frame decoder (internal to each build: what every client runs per frame). */
interface SdkCodec {
  decodeReplies(data: string | Uint8Array): Array<{ push?: { pub?: { data: unknown } } }>;
}
const sdkCodec = (c: object): SdkCodec => (c as { _codec: SdkCodec })._codec;

/** A publication as each channel kind pushes it. */
interface Shape {
  name: string;
  frame(enc: PushEncoding): string | Uint8Array;
  dataBytes: number;
}

const chat = { text: "hello everyone, how is it going?" };
const info = { user: "user-1234", client: "6f1c2a9e-8d3b-4c5a-9e7f-0a1b2c3d4e5f" };
const notification = JSON.stringify({ id: "n-3f9a1c", seq: 48213, epoch: "Kq3v9XbT2mPz", user_id: "user-1234", title: "New comment", body: "Anna replied to your post: looks great, ship it!", data: { post: 981, comment: 55012 }, created_at: "2026-11-26T03:12:26.398Z" });
const sample = JSON.stringify({ timestamp: "2026-11-26T03:12:26.398Z", cpu_load: 0.53, memory_usage: 42.51, cpu_percent: 17.2, host: "web-01", interval_ms: 1000 });

const SHAPES: Shape[] = [
  { name: "chat message (chat:<room>, with info and offset)", frame: (enc) => enc.frame("chat:lobby", { pub: { data: chat, info, offset: 123_456 } }), dataBytes: JSON.stringify(chat).length },
  { name: "notification (#<user>, offset)", frame: (enc) => enc.publication("#user-1234", notification, 48_213), dataBytes: notification.length },
  { name: "metrics sample (system:monitor)", frame: (enc) => enc.publication("system:monitor", sample), dataBytes: sample.length },
];

/** Mean ns per call of `fn`, after as many calls to warm the JIT up. */
function nsPer(iterations: number, fn: () => unknown): number {
  let sink: unknown;
  for (let i = 0; i < iterations; i++) sink = fn();
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < iterations; i++) sink = fn();
  const ns = (Bun.nanoseconds() - t0) / iterations;
  if (sink === Symbol.for("never")) console.log(sink);
  return round(ns, 0);
}

/**
 * JSON against Protobuf per publication, in-process with the gateway's own encoders and the SDK's
 * own decoders: bytes of one push frame, CPU to build it (once per publication per encoding on the
 * gateway, whatever the number of subscribers), and CPU to read it on a client (the SDK's decode,
 * then the data as a JSON value, which Protobuf clients get as bytes).
 */
export async function runCodec(ctx: Ctx): Promise<CodecResult[]> {
  const n = ctx.plan.codec.iterations;
  const json = sdkCodec(new JsonCentrifuge("ws://127.0.0.1:9/unused"));
  const protobuf = sdkCodec(new ProtobufCentrifuge("ws://127.0.0.1:9/unused"));
  const utf8 = new TextDecoder();
  const out: CodecResult[] = [];
  for (const shape of SHAPES) {
    ctx.progress.status(`codec: ${shape.name}`);
    const jf = shape.frame(jsonPushes) as string;
    const pf = shape.frame(protobufPushes) as Uint8Array;
    const r: CodecResult = {
      shape: shape.name,
      dataBytes: shape.dataBytes,
      jsonBytes: Buffer.byteLength(jf),
      protobufBytes: pf.byteLength,
      jsonEncodeNs: nsPer(n, () => shape.frame(jsonPushes)),
      protobufEncodeNs: nsPer(n, () => shape.frame(protobufPushes)),
      jsonDecodeNs: nsPer(n, () => json.decodeReplies(jf)[0]!.push!.pub!.data),
      protobufDecodeNs: nsPer(n, () => JSON.parse(utf8.decode(protobuf.decodeReplies(pf)[0]!.push!.pub!.data as Uint8Array)) as unknown),
      lost: 0,
    };
    // The two must carry the same publication.
    const a = json.decodeReplies(jf)[0]!.push!.pub!.data;
    const b: unknown = JSON.parse(utf8.decode(protobuf.decodeReplies(pf)[0]!.push!.pub!.data as Uint8Array));
    if (JSON.stringify(a) !== JSON.stringify(b)) r.error = `the encodings disagree on ${shape.name}`;
    out.push(r);
    ctx.progress.log(`codec ${shape.name}: ${r.jsonBytes} B JSON, ${r.protobufBytes} B Protobuf; encode ${r.jsonEncodeNs} / ${r.protobufEncodeNs} ns; client decode ${r.jsonDecodeNs} / ${r.protobufDecodeNs} ns`);
  }
  return out;
}
