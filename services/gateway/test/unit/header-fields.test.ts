import { expect, test } from "bun:test";
import { fieldOf } from "../../src/broker/header-fields.ts";

test("a field's value from a NATS header block; missing fields are empty; names match whole", () => {
  const block = "NATS/1.0\r\nRt-Origin: abc\r\nNats-Sequence: 42\r\nNats-Last-Sequence:  7 \r\nNats-Stream: ROOMS\r\n\r\n";
  expect(fieldOf(block, "Nats-Sequence")).toBe("42");
  expect(fieldOf(block, "Nats-Last-Sequence")).toBe("7");
  expect(fieldOf(block, "Rt-Origin")).toBe("abc");
  expect(fieldOf(block, "Nats-Stream")).toBe("ROOMS");
  expect(fieldOf(block, "Sequence")).toBe("");
  expect(fieldOf(block, "Missing")).toBe("");
});
