import type { Codec } from "./codec.ts";
import { jsonPushes } from "./push.ts";

/** At most this many commands in one frame (the SDK batches a connect and its subscribes). */
const MAX_COMMANDS_PER_FRAME = 1000;

/**
 * The JSON codec: text frames of newline-separated JSON objects, both ways (the SDK splits on
 * "\n" after trimming). A binary frame, invalid JSON or a line that is not an object: unreadable.
 */
export class JsonCodec implements Codec {
  readonly pushes = jsonPushes;

  decode(message: string | Buffer): unknown[] | undefined {
    if (typeof message !== "string") return undefined;
    const lines = message.trim().split("\n");
    if (lines.length > MAX_COMMANDS_PER_FRAME) return undefined;
    const out: unknown[] = [];
    for (const line of lines) {
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return undefined;
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
      out.push(value);
    }
    return out.length > 0 ? out : undefined;
  }

  encode(replies: object[]): string {
    return replies.map((r) => JSON.stringify(r)).join("\n");
  }
}

/** Compile-time check that the codec fits the interface. */
const _fits: Codec = new JsonCodec();
void _fits;
