import { createHash } from "node:crypto";
import Type from "typebox";

/** An epoch as clients see it: 1 to 32 characters of A-Z a-z 0-9 _ - (what `?epoch=` accepts). */
export const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
export const Epoch = Type.String({ pattern: "^[A-Za-z0-9_-]{1,32}$", description: "Which life of the stream a seq belongs to; changes only when the stream was lost and created anew." });

/**
 * The epoch of a JetStream stream: a short digest of its `created` time (nanosecond precision,
 * the same on every replica). A stream deleted and created again starts its seqs at 1 under a
 * new epoch, so a seq is only meaningful together with its epoch.
 */
export function epochOf(created: string): string {
  return createHash("sha256").update(created).digest("base64url").slice(0, 12);
}
