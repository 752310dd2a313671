// A clone holds everything its files point to: no file of the repository cites a document or a
// folder that only its authors had (a contract, notes, an issue tracker, a sibling checkout), and
// every relative link of the Markdown pages lands on a file of the repository.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { ROOT } from "@rt/testkit";

/** Citations of what is not in the repository. */
const OUTSIDE: Array<[what: string, pattern: RegExp]> = [
  ["the contract of another checkout", /\bSPEC(?:\.md)?\b/],
  ["field notes", /FIELD-NOTES/],
  ["a style review", /\bSTYLE\.md\b/],
  ["a protocol summary", /CENTRIFUGO-PROTOCOL/],
  ["a sibling folder", /\.\.\/shared\b/],
  ["a machine's work folder", /\/work\/(?:shared|main|wt)\b/],
  ["an issue tracker", /\bissues? #?\d+\b/i],
];

/** The outside citations in `text`, as `<line>: <what>`. */
function citations(text: string): string[] {
  const found: string[] = [];
  text.split("\n").forEach((line, i) => {
    for (const [what, pattern] of OUTSIDE) if (pattern.test(line)) found.push(`${i + 1}: ${what}`);
  });
  return found;
}

/** The repository's own files (tracked, and new ones not ignored), as paths from its root. */
function repositoryFiles(): string[] {
  const r = Bun.spawnSync(["git", "ls-files", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`git ls-files: ${r.stderr.toString()}`);
  return r.stdout.toString().split("\n").filter((f) => f !== "" && existsSync(join(ROOT, f)));
}

const TEXT = /\.(?:ts|js|json|md|ya?ml|toml|conf|sh|html|css|txt)$|(?:^|\/)(?:Dockerfile|\.gitignore|\.dockerignore|run)$/;
/** Files that are not the repository's words: the lock file, and this test's own patterns. */
const SKIPPED = new Set(["bun.lock", relative(ROOT, import.meta.path)]);

describe("the repository points only inside itself", () => {
  test("the check finds a citation of each kind (positive control)", () => {
    const planted = ["// see SPEC.md", "// FIELD-NOTES, node loss", "../shared/STYLE.md", "summary in CENTRIFUGO-PROTOCOL", "/work/shared/x", "(issue 19, point 4)", "fine: INSPECT, specs, spec.ts"];
    expect(citations(planted.join("\n"))).toEqual([
      "1: the contract of another checkout",
      "2: field notes",
      "3: a style review",
      "3: a sibling folder",
      "4: a protocol summary",
      "5: a machine's work folder",
      "6: an issue tracker",
    ]);
  });

  test("no file cites a document, folder or issue a clone does not have", () => {
    const files = repositoryFiles().filter((f) => TEXT.test(f) && !SKIPPED.has(f));
    expect(files.length).toBeGreaterThan(100);
    const found = files.flatMap((f) => citations(readFileSync(join(ROOT, f), "utf8")).map((c) => `${f}:${c}`));
    expect(found).toEqual([]);
  });

  test("every relative link of a Markdown page lands on a file or folder of the repository", () => {
    const pages = repositoryFiles().filter((f) => f.endsWith(".md"));
    const broken: string[] = [];
    for (const page of pages) {
      const text = readFileSync(join(ROOT, page), "utf8").replace(/^```[\s\S]*?^```$/gm, ""); // not inside code blocks
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split("#")[0]!;
        if (target === "" || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // an anchor on the page, or a URL
        const path = join(dirname(join(ROOT, page)), decodeURIComponent(target));
        if (relative(ROOT, path).startsWith("..") || !existsSync(path)) broken.push(`${page}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
