// docs/openapi.json: generated from the schemas the notifier validates with, and a valid OpenAPI 3.1 document.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { API_METHODS } from "@rt/protocol";
import { openApiDocument } from "../../scripts/lib/openapi.ts";

const FILE = resolve(import.meta.dir, "../../docs/openapi.json");

test("docs/openapi.json is what `bun run docs` writes from the schemas", () => {
  expect(readFileSync(FILE, "utf8")).toBe(`${JSON.stringify(openApiDocument(), null, 2)}\n`);
});

test("it validates as OpenAPI 3.1 (@apidevtools/swagger-parser), every $ref resolves, every method has its path", async () => {
  const api = (await SwaggerParser.validate(FILE)) as { openapi: string; paths: Record<string, unknown> };
  expect(api.openapi).toBe("3.1.0");
  for (const method of Object.keys(API_METHODS)) expect(api.paths[`/api/${method}`]).toBeDefined();
  expect(api.paths["/notifications"]).toBeDefined();
});

test("the validator is not a rubber stamp: a broken document is refused", async () => {
  const broken = openApiDocument() as { paths: Record<string, { post: { responses: Record<string, unknown> } }> };
  broken.paths["/api/publish"]!.post.responses["200"] = { description: "x", content: { "application/json": { schema: { $ref: "#/components/schemas/Missing" } } } };
  await expect(SwaggerParser.validate(structuredClone(broken) as never)).rejects.toThrow();
  const noDescription = openApiDocument() as typeof broken;
  noDescription.paths["/api/info"]!.post.responses["200"] = { content: {} };
  await expect(SwaggerParser.validate(noDescription as never)).rejects.toThrow();
});
