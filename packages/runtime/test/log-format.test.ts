import { describe, expect, test } from "bun:test";
import { ConfigErrors, logColors, logFormat } from "../src/index.ts";

describe("logFormat: pretty for a person at a terminal, JSON otherwise", () => {
  test.each([
    [{}, true, "pretty"],
    [{}, false, "json"],
    [{ LOG_PRETTY: "" }, true, "pretty"], // empty is unset
    [{ LOG_PRETTY: "" }, false, "json"],
    [{ LOG_PRETTY: "1" }, false, "pretty"], // forced: a pipe, a file, the launcher's children
    [{ LOG_PRETTY: "1" }, true, "pretty"],
    [{ LOG_PRETTY: "0" }, true, "json"], // forced JSON on a terminal
    [{ LOG_PRETTY: "0" }, false, "json"],
    [{ LOG_PRETTY: "true" }, false, "pretty"], // read like every other flag
    [{ LOG_PRETTY: "off" }, true, "json"],
  ] as const)("%o, stdout a terminal: %p -> %s", (env, isTTY, expected) => {
    expect(logFormat(env, isTTY)).toBe(expected);
  });

  test.each(["2", "pretty", "json", "yes please"])("LOG_PRETTY=%p is a bad variable named in one line", (value) => {
    let caught: unknown;
    try {
      logFormat({ LOG_PRETTY: value }, true);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigErrors);
    const e = caught as ConfigErrors;
    expect(e.errors.map((x) => x.variable)).toEqual(["LOG_PRETTY"]);
    expect(e.message).toBe(`LOG_PRETTY: must be 1 or 0, got ${JSON.stringify(value.toLowerCase())}`);
  });
});

describe("logColors: coloured only where colours are shown", () => {
  test.each([
    [{}, true, true],
    [{}, false, false],
    [{ TERM: "dumb" }, true, false],
    [{ NO_COLOR: "1" }, true, false],
    [{ NO_COLOR: "" }, true, true], // no-color.org: only a non-empty value counts
    [{ FORCE_COLOR: "1" }, false, true], // the launcher's children: a pipe that ends in a terminal
    [{ FORCE_COLOR: "" }, false, true],
    [{ FORCE_COLOR: "0" }, true, false],
    [{ FORCE_COLOR: "false" }, true, false],
    [{ FORCE_COLOR: "1", NO_COLOR: "1" }, false, true], // FORCE_COLOR wins, as in Node
  ] as const)("%o, stdout a terminal: %p -> %p", (env, isTTY, expected) => {
    expect(logColors(env, isTTY)).toBe(expected);
  });
});
