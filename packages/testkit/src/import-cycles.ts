import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/** Every `.ts` file under `dir` (recursively), absolute paths, sorted. */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

/** The text with comments blanked (so an `import` in a comment is not read as one). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** `from "x"`, `import "x"`, `import("x")`: value and type imports and re-exports alike (a type import is an edge too). */
const SPECIFIERS = [/(?:^|[\n;])\s*(?:import|export)\b[^'"`;]*?\bfrom\s*["']([^"']+)["']/g, /(?:^|[\n;])\s*import\s*["']([^"']+)["']/g, /\bimport\(\s*["']([^"']+)["']\s*\)/g];

/** The relative imports of one file, resolved to files inside `root` (packages and absolute paths are left out). */
export function localImports(file: string, root: string): string[] {
  root = resolve(root);
  const text = withoutComments(readFileSync(file, "utf8"));
  const found = new Set<string>();
  for (const re of SPECIFIERS) {
    for (const m of text.matchAll(re)) {
      const spec = m[1]!;
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
      const base = resolve(dirname(file), spec);
      const target = [base, `${base}.ts`, join(base, "index.ts")].find((p) => existsSync(p) && statSync(p).isFile());
      if (target && !relative(root, target).startsWith("..")) found.add(target);
    }
  }
  return [...found].sort();
}

/** Files that import each other in a circle: every file of the group, and one circle through them. */
export interface ImportCycle {
  /** Every file of the group (each reaches every other through imports), relative to the root. */
  files: string[];
  /** One circle through the group, e.g. `a.ts -> b.ts -> a.ts`. */
  circle: string;
}

/**
 * The import circles between the `.ts` files under `dir`: each strongly connected group of files
 * (Tarjan), type-only imports included. Empty when no file reaches itself through its imports.
 */
export function importCycles(dir: string): ImportCycle[] {
  const root = resolve(dir);
  const files = sourceFiles(root);
  const edges = new Map(files.map((f) => [f, localImports(f, root)]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || (edges.get(v) ?? []).includes(v)) groups.push(group);
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return groups.map((g) => ({
    files: g.map((f) => relative(root, f)).sort(),
    circle: circleThrough(g, edges).map((f) => relative(root, f)).join(" -> "),
  }));
}

/** One circle inside a strongly connected group: from its first file back to it (breadth first, so a short one). */
function circleThrough(group: string[], edges: Map<string, string[]>): string[] {
  const members = new Set(group);
  const start = [...group].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of edges.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at: string | undefined = v; at !== undefined && at !== start; at = previous.get(at)) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
