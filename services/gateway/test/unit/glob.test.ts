import { expect, test } from "bun:test";
import { globMatcher } from "../../src/api/glob.ts";

test("a channel glob: * any run (empty too), ? one character, everything else literally (regex characters included)", () => {
  const m = globMatcher("chat:*");
  expect(["chat:", "chat:lobby", "chat:a.b"].every(m)).toBe(true);
  expect(["chat", "#chat:x", "xchat:lobby"].some(m)).toBe(false);
  expect(globMatcher("#u?")("#u1")).toBe(true);
  expect(globMatcher("#u?")("#u12")).toBe(false);
  expect(globMatcher("a.b")("a.b")).toBe(true);
  expect(globMatcher("a.b")("axb")).toBe(false);
  expect(globMatcher("(x)+[y]{2}|$^\\")("(x)+[y]{2}|$^\\")).toBe(true);
  expect(globMatcher("*用户*")("#用户-1")).toBe(true);
  expect(globMatcher("")("")).toBe(true);
  expect(globMatcher("")("x")).toBe(false);
});
