import { isDeltaType, type DeltaType } from "@rt/protocol";

/**
 * What a subscribe request's `delta` gets, as Centrifugo answers it: `fossil` where the channel's
 * namespace lists it in `allowed_delta_types` (the reply then says `delta: true`); nothing where
 * it does not (the subscription goes on without deltas and the reply says nothing of them, so the
 * SDK reads plain publications); and a bad request (close 3501) for a type Centrifugo does not
 * know. An empty `delta` asks for nothing.
 */
export function negotiateDelta(requested: string | undefined, allowed: readonly DeltaType[]): DeltaType | undefined | "bad_request" {
  if (requested === undefined || requested === "") return undefined;
  if (!isDeltaType(requested)) return "bad_request";
  return allowed.includes(requested) ? requested : undefined;
}
