import { describe, expect, test } from "bun:test";
import { SmallMap } from "../../src/sessions/small-map.ts";

describe("SmallMap", () => {
  test("behaves as a Map for get, has, set, delete, size, clear and insertion-ordered iteration", () => {
    const m = new SmallMap<string, number>();
    const ref = new Map<string, number>();
    const ops: Array<[string, string, number?]> = [["set", "a", 1], ["set", "b", 2], ["set", "a", 3], ["set", "c", 4], ["delete", "b"], ["delete", "zz"], ["set", "b", 5], ["delete", "a"]];
    for (const [op, k, v] of ops) {
      if (op === "set") {
        m.set(k, v!);
        ref.set(k, v!);
      } else expect(m.delete(k)).toBe(ref.delete(k));
      expect([...m]).toEqual([...ref]);
      expect([...m.values()]).toEqual([...ref.values()]);
      expect(m.size).toBe(ref.size);
      for (const key of ["a", "b", "c", "zz"]) {
        expect(m.get(key)).toBe(ref.get(key));
        expect(m.has(key)).toBe(ref.has(key));
      }
    }
    m.clear();
    expect(m.size).toBe(0);
    expect([...m]).toEqual([]);
  });
});
