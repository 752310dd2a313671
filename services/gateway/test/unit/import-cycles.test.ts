import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, importCycles } from "@rt/testkit";

// No two files of a service or package import each other in a circle (type-only imports count:
// a circle of types is still files that cannot be read or tested alone).
test.each(["services/gateway/src", "services/notifier/src", "services/metrics/src", "packages/protocol/src", "packages/runtime/src", "packages/testkit/src"])("%s has no import circle", (dir) => {
  const cycles = importCycles(join(ROOT, dir));
  expect(cycles.map((c) => `${c.circle}  (files: ${c.files.join(", ")})`)).toEqual([]);
});

const scratch = mkdtempSync(join(tmpdir(), "import-cycles-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test("the walker finds a circle of type imports, multi-line ones and re-exports included, and nothing in comments", () => {
  mkdirSync(join(scratch, "a"));
  writeFileSync(join(scratch, "a/one.ts"), 'import type {\n  Two,\n} from "../two.ts";\nexport type One = Two;\n');
  writeFileSync(join(scratch, "two.ts"), 'export type { Three as Two } from "./three";\n');
  writeFileSync(join(scratch, "three.ts"), 'import type { One } from "./a/one.ts";\nexport type Three = One | 1;\n');
  writeFileSync(join(scratch, "leaf.ts"), '// import { x } from "./two.ts";\n/* import "./three.ts" */\nexport const leaf = 1;\n');
  writeFileSync(join(scratch, "user.ts"), 'import { leaf } from "./leaf.ts";\nimport type { Two } from "./two.ts";\nexport const u: Two | number = leaf;\n');
  const cycles = importCycles(scratch);
  expect(cycles).toEqual([{ files: ["a/one.ts", "three.ts", "two.ts"], circle: "a/one.ts -> two.ts -> three.ts -> a/one.ts" }]);
});
