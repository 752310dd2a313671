/** Deepest nesting accepted in free-form JSON (`data` of a notification), which gateways serialize again. */
export const MAX_JSON_DEPTH = 64;

/**
 * True when `value` nests arrays and objects no deeper than `max` (a scalar is depth 0).
 * Iterative, so hostile depth cannot overflow the stack; run it before JSON.stringify.
 */
export function depthWithin(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (d + 1 > max) return false;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return true;
}
