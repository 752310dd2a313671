// What the production image (Dockerfile) holds, without a Docker engine: the build context as
// .dockerignore leaves it, the files the runtime stage copies from it, and the dependency tree of
// the deps stage, made here by running that stage's own install command on the manifests it gets.
// And the secrets a deployment keeps in .env stay out of git and out of the image.
import { describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "./compose.ts";

interface Copy {
  from: string | undefined;
  sources: string[];
  dest: string;
}
interface Stage {
  name: string;
  copies: Copy[];
  runs: string[];
}

/** The Dockerfile's stages with their COPY and RUN instructions (continuation lines joined). */
function dockerfileStages(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/);
    if (op === "FROM") stages.push({ name: /\bAS\s+(\S+)/i.exec(line)?.[1] ?? String(stages.length), copies: [], runs: [] });
    const stage = stages.at(-1);
    if (!stage) continue;
    if (op === "RUN") stage.runs.push(rest.join(" "));
    if (op === "COPY") {
      const from = rest.find((a) => a.startsWith("--from="))?.slice("--from=".length);
      const args = rest.filter((a) => !a.startsWith("--"));
      stage.copies.push({ from, sources: args.slice(0, -1), dest: args.at(-1)! });
    }
  }
  return stages;
}

/** .dockerignore's rules, in order (`!` re-includes). */
function dockerignore(text: string): Array<{ glob: Bun.Glob; include: boolean }> {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#")).map((l) => {
    const include = l.startsWith("!");
    const pattern = (include ? l.slice(1) : l).replace(/^\/+/, "").replace(/\/+$/, "");
    return { glob: new Bun.Glob(pattern), include };
  });
}

/** Whether Docker leaves `path` out of the context: the last rule matching it or one of its folders decides. */
function ignored(path: string, rules: ReturnType<typeof dockerignore>): boolean {
  const parts = path.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let out = false;
  for (const rule of rules) if (prefixes.some((p) => rule.glob.match(p))) out = !rule.include;
  return out;
}

/** Every file of the build context (paths relative to the root), .dockerignore applied. */
function contextFiles(): string[] {
  const rules = dockerignore(readFileSync(join(ROOT, ".dockerignore"), "utf8"));
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      if (ignored(path, rules)) continue;
      if (entry.isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk("");
  return files;
}

/** The context files a stage's COPY instructions (those without --from) put into the image. */
function copiedFromContext(stage: Stage, context: string[]): string[] {
  const sources = stage.copies.filter((c) => c.from === undefined).flatMap((c) => c.sources);
  return context.filter((f) => sources.some((s) => f === s || f.startsWith(`${s}/`)));
}

const STAGES = dockerfileStages(readFileSync(join(ROOT, "Dockerfile"), "utf8"));
const RUNTIME = STAGES.at(-1)!;
const DEPS = STAGES.find((s) => s.name === "deps")!;
/** Imports of test-only packages in TypeScript sources. */
const TEST_IMPORT = /from\s+["'](@rt\/testkit|playwright-core|bun:test)["'/]/;

describe("the production image", () => {
  test("the Dockerfile has the stages this check reads: deps installs, the runtime stage copies its tree and the sources", () => {
    expect(STAGES.map((s) => s.name)).toEqual(["manifests", "deps", "runtime"]);
    expect(RUNTIME.copies.some((c) => c.from === "deps")).toBe(true);
    expect(DEPS.runs.filter((r) => r.startsWith("bun install"))).toHaveLength(1);
  });

  test("copies no test code from the context: no test kit, no test file, nothing that imports a test-only package", () => {
    const copied = copiedFromContext(RUNTIME, contextFiles());
    // Positive control: the services and the packages they run on are there.
    for (const f of ["services/gateway/src/main.ts", "services/notifier/src/main.ts", "services/metrics/src/main.ts", "packages/runtime/src/index.ts", "packages/protocol/src/index.ts", "bun.lock"]) expect(copied).toContain(f);
    expect(copied.filter((f) => f.startsWith("packages/testkit/"))).toEqual([]);
    expect(copied.filter((f) => /(^|\/)test\/|\.test\.ts$/.test(f))).toEqual([]);
    expect(copied.filter((f) => f.endsWith(".ts") && TEST_IMPORT.test(readFileSync(join(ROOT, f), "utf8")))).toEqual([]);
  });

  test("its dependencies, installed as the deps stage does, hold no test-only package", () => {
    const context = contextFiles();
    const dir = mkdtempSync(join(tmpdir(), "rt-image-deps-"));
    try {
      // The deps stage: the root manifests it copies, and every workspace's package.json (what the manifests stage keeps).
      const manifests = [...copiedFromContext(DEPS, context), ...context.filter((f) => /^(packages|services)\/[^/]+\/package\.json$/.test(f))];
      for (const f of manifests) {
        mkdirSync(dirname(join(dir, f)), { recursive: true });
        cpSync(join(ROOT, f), join(dir, f));
      }
      const install = DEPS.runs.find((r) => r.startsWith("bun install"))!.split(/\s+/).slice(1);
      expect(install).toContain("--production");
      expect(install).toContain("--frozen-lockfile");
      const proc = Bun.spawnSync([process.execPath, ...install], { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" }, stdout: "pipe", stderr: "pipe" });
      const output = proc.stdout.toString() + proc.stderr.toString();
      expect({ code: proc.exitCode, output }).toMatchObject({ code: 0 });
      const store = readdirSync(join(dir, "node_modules", ".bun"));
      // Positive control: the services' own dependencies are there.
      for (const name of ["@nats-io+transport-node@", "pino@", "jose@", "typebox@"]) expect(store.some((p) => p.startsWith(name))).toBe(true);
      expect(store.filter((p) => /^(playwright|@rt\+testkit|typescript@|bun-types@)/.test(p))).toEqual([]);
      const linked = ["node_modules", ...["gateway", "notifier", "metrics"].map((s) => `services/${s}/node_modules`)].flatMap((m) =>
        existsSync(join(dir, m, "@rt")) ? readdirSync(join(dir, m, "@rt")).map((p) => `${m}/@rt/${p}`) : [],
      );
      expect(linked.filter((p) => p.endsWith("/testkit"))).toEqual([]);
      expect(statSync(join(dir, "services", "gateway", "node_modules")).isDirectory()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("secrets in .env", () => {
  const rules = dockerignore(readFileSync(join(ROOT, ".dockerignore"), "utf8"));
  const SECRET_FILES = [".env", ".env.local", ".env.production", "services/gateway/.env"];

  test("are kept out of the image's context", () => {
    for (const f of SECRET_FILES) expect([f, ignored(f, rules)]).toEqual([f, true]);
    expect(ignored("package.json", rules)).toBe(false); // positive control
  });

  const git = Bun.which("git");
  const inGit = git !== null && Bun.spawnSync([git, "rev-parse", "--is-inside-work-tree"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" }).stdout.toString().trim() === "true";
  test.skipIf(!inGit)("are ignored by git, so `git add -A` never takes them", () => {
    const check = (path: string) => Bun.spawnSync([git!, "check-ignore", "--no-index", "-q", path], { cwd: ROOT }).exitCode === 0;
    for (const f of SECRET_FILES) expect([f, check(f)]).toEqual([f, true]);
    expect(check("compose.yaml")).toBe(false); // positive control
  });
});
