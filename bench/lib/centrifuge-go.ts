import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

/**
 * The Go peer (bench/baselines/centrifuge-go/main.go on the Go centrifuge library), built on first
 * use: offline, in GOPATH mode, from Debian's packages (none of the library's code is in this
 * repository). The binary is kept under the git-ignored `.build/` beside main.go, named by a hash
 * of main.go, so an edit rebuilds it.
 */
const DIR = join(import.meta.dir, "..", "baselines", "centrifuge-go");
const CACHE = join(DIR, ".build");
/** Where Debian's golang-*-dev packages put their sources. */
const GOCODE = "/usr/share/gocode";

/** Debian's packages the Go peer needs: the library and four it needs without declaring them. */
export const GO_PEER_PACKAGES = [
  "golang-go",
  "golang-github-centrifugal-centrifuge-dev",
  "golang-github-centrifugal-protocol-dev",
  "golang-github-igm-sockjs-go-dev",
  "golang-github-mna-redisc-dev",
  "golang-github-fzambia-eagle-dev",
];

/** The most messages the library writes into one WebSocket frame (its writer's default in 0.15; not configurable there). */
export const GO_PEER_MAX_MESSAGES_PER_FRAME = 4;

/** The library's and Go's versions, as Debian installed them, for the report. */
export function goPeerVersions(): { library: string; protocol: string; go: string } {
  const dpkg = (pkg: string) => {
    const r = Bun.spawnSync(["dpkg-query", "-W", "-f=${Version}", pkg], { stdout: "pipe", stderr: "ignore" });
    return r.success ? r.stdout.toString().trim() : "missing";
  };
  const go = Bun.spawnSync(["go", "version"], { stdout: "pipe", stderr: "ignore" });
  return {
    library: `centrifuge ${dpkg("golang-github-centrifugal-centrifuge-dev")}`,
    protocol: `protocol ${dpkg("golang-github-centrifugal-protocol-dev")}`,
    go: go.success ? go.stdout.toString().trim().split(" ")[2] ?? "unknown" : "missing",
  };
}

/** The Go peer's binary, built first when main.go changed or it was never built (about a minute cold). */
export async function ensureGoPeer(): Promise<string> {
  const hash = Bun.hash(readFileSync(join(DIR, "main.go"))).toString(16);
  const bin = join(CACHE, `centrifuge-go-${hash}`);
  if (existsSync(bin)) return bin;
  const install = `apt-get install -y ${GO_PEER_PACKAGES.join(" ")}`;
  if (!Bun.which("go")) throw new Error(`go is needed for the Go peer (${install})`);
  if (!existsSync(join(GOCODE, "src/github.com/centrifugal/centrifuge"))) throw new Error(`the Go centrifuge library is missing from ${GOCODE} (${install})`);
  mkdirSync(CACHE, { recursive: true });
  const env: Record<string, string> = { ...(process.env as Record<string, string>), GO111MODULE: "off", GOPATH: `${join(CACHE, "gopath")}:${GOCODE}`, GOFLAGS: "" };
  // Go wants a build cache; without HOME (a bare CI shell) it goes beside the binary.
  if (!process.env.GOCACHE && !process.env.HOME && !process.env.XDG_CACHE_HOME) env.GOCACHE = join(CACHE, "gocache");
  const proc = Bun.spawn(["go", "build", "-o", `${bin}.tmp`, "."], { cwd: DIR, env, stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`go build of bench/baselines/centrifuge-go failed (${code}): ${err.trim()}`);
  renameSync(`${bin}.tmp`, bin);
  // Binaries of an earlier main.go are of no more use.
  for (const f of readdirSync(CACHE)) if (f.startsWith("centrifuge-go-") && join(CACHE, f) !== bin) rmSync(join(CACHE, f), { force: true });
  return bin;
}
