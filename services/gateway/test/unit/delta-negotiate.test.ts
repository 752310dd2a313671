import { expect, test } from "bun:test";
import { negotiateDelta } from "../../src/channels/delta/negotiate.ts";

test("a subscribe's `delta`: fossil where the namespace allows it, nothing where it does not, a bad request for an unknown type", () => {
  expect(negotiateDelta("fossil", ["fossil"])).toBe("fossil");
  expect(negotiateDelta("fossil", [])).toBeUndefined(); // as Centrifugo: the subscription goes on, without deltas
  expect(negotiateDelta(undefined, ["fossil"])).toBeUndefined();
  expect(negotiateDelta("", ["fossil"])).toBeUndefined();
  for (const bad of ["Fossil", "xdelta", "fossil ", "vcdiff"]) expect(negotiateDelta(bad, ["fossil"])).toBe("bad_request");
});
