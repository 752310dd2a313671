// The `observability` profile: deploy/prometheus, deploy/grafana and compose.yaml agree with each
// other and with the metrics the services register. Nothing is started (there is no Docker here);
// compose is checked with docker-compose when it is on PATH.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { COMPOSE_REQUIRED_ENV } from "./compose.ts";

const ROOT = resolve(import.meta.dir, "../..");
const read = (path: string): string => readFileSync(resolve(ROOT, path), "utf8");

const DASHBOARD = "deploy/grafana/dashboards/realtime.json";
const DATASOURCE = "deploy/grafana/provisioning/datasources/prometheus.yml";
const PROMETHEUS = "deploy/prometheus/prometheus.yml";
const DOCS = "docs/observability.md";
/** Where the services register their metrics (directly, or through a helper in @rt/runtime). */
const SOURCES = ["services/*/src/**/*.ts", "packages/runtime/src/**/*.ts"];

interface Target {
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  title?: string;
  type: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  id: unknown;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string; current?: { value?: string } }[] };
}

const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard;

/** Every panel, rows' nested panels included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** The `rt_*` metric names an expression uses, a histogram's series (_bucket, _sum, _count) under the histogram's name. */
function rtMetrics(expr: string): string[] {
  return [...expr.matchAll(/\brt_[A-Za-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ""));
}

/** The `rt_*` names in the first column of the metric table in docs/observability.md. */
function documentedMetrics(): string[] {
  return [...read(DOCS).matchAll(/^\| `(rt_[A-Za-z0-9_]+)`/gm)].map((m) => m[1]!);
}

function sourceTexts(): string[] {
  const texts: string[] = [];
  for (const pattern of SOURCES) {
    for (const path of new Bun.Glob(pattern).scanSync({ cwd: ROOT })) texts.push(read(path));
  }
  return texts;
}

/**
 * Whether `name` is registered somewhere: quoted in full (`"rt_connections"`), or without its prefix
 * as the first argument of a registering helper (`m.gauge("connections", …)`, `counter("…")`,
 * `histogram("…")`) or after a prefix constant (`METRIC_PREFIX + "connections"`). A bare
 * `"connections"` elsewhere is too common a word to count.
 */
function registered(name: string, texts: string[]): boolean {
  const full = new RegExp(`["'\`]${name}["'\`]`);
  const bare = name.slice("rt_".length);
  // `m.histogram(…)`, `m.seriesHistogram(…)`, `metrics.counter(…)`: any helper whose name ends in a metric kind.
  const viaHelper = new RegExp(`(\\b\\w*?(counter|gauge|histogram|summary)\\w*\\(\\s*|PREFIX\\s*\\+\\s*)["'\`]${bare}["'\`]`, "i");
  return texts.some((t) => full.test(t) || viaHelper.test(t));
}

const dashboardMetrics = [...new Set(allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).flatMap((t) => rtMetrics(t.expr ?? ""))))].sort();

describe("the Grafana dashboard", () => {
  test("metric names are read from expressions, histogram series under the histogram's name", () => {
    expect(rtMetrics('histogram_quantile(0.99, sum by (le) (rate(rt_command_duration_seconds_bucket{job="gateway"}[5m]))) + rt_users')).toEqual(["rt_command_duration_seconds", "rt_users"]);
    expect(rtMetrics("sum(rate(rt_notifications_stored_total[1m])) / process_cpu_seconds_total")).toEqual(["rt_notifications_stored_total"]);
  });

  test("a name counts as registered in full or through a helper, not as a bare word", () => {
    expect(registered("rt_users", ['new Gauge({ name: "rt_users", help: "x" })'])).toBe(true);
    expect(registered("rt_users", ['m.gauge("users", "Distinct users", [], collect)'])).toBe(true);
    expect(registered("rt_users", ["new Counter({ name: METRIC_PREFIX + 'users' })"])).toBe(true);
    expect(registered("rt_users", ['log.info({ kind: "users" })', 'g.labels("users")'])).toBe(false);
    expect(registered("rt_users", ['"rt_users_total"'])).toBe(false);
  });

  test("is importable: no internal id, a fixed uid, every panel on the datasource variable", () => {
    expect(dashboard.id).toBeNull();
    expect(dashboard.uid).toBe("rt-overview");
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const variable = dashboard.templating.list.find((v) => v.name === "datasource");
    expect(variable).toMatchObject({ type: "datasource", query: "prometheus" });
    for (const panel of allPanels(dashboard.panels).filter((p) => p.type !== "row")) {
      expect(panel.datasource, panel.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const t of panel.targets ?? []) expect(t.datasource?.uid, panel.title).toBe("${datasource}");
    }
  });

  test("the datasource variable defaults to the provisioned datasource's uid", () => {
    const provisioned = Bun.YAML.parse(read(DATASOURCE)) as { datasources: { uid: string; type: string; url: string }[] };
    expect(provisioned.datasources).toHaveLength(1);
    const [ds] = provisioned.datasources;
    expect(ds).toMatchObject({ type: "prometheus", url: "http://prometheus:9090" });
    expect(dashboard.templating.list.find((v) => v.name === "datasource")?.current?.value).toBe(ds!.uid);
  });

  test("every rt_* metric it shows is in the table of docs/observability.md", () => {
    expect(dashboardMetrics.length).toBeGreaterThan(15);
    const documented = new Set(documentedMetrics());
    expect(dashboardMetrics.filter((m) => !documented.has(m))).toEqual([]);
  });

  test("every rt_* metric it shows or the docs list is registered by a service", () => {
    const texts = sourceTexts();
    expect(texts.length).toBeGreaterThan(10);
    const wanted = [...new Set([...dashboardMetrics, ...documentedMetrics()])].sort();
    expect(wanted.filter((m) => !registered(m, texts))).toEqual([]);
  });
});

describe("deploy/prometheus/prometheus.yml", () => {
  interface ScrapeConfig {
    job_name: string;
    scrape_interval?: string;
    metrics_path?: string;
    dns_sd_configs?: { names: string[]; type: string; port: number }[];
  }
  const config = Bun.YAML.parse(read(PROMETHEUS)) as { global: { scrape_interval: string }; scrape_configs: ScrapeConfig[] };
  const compose = Bun.YAML.parse(read("compose.yaml")) as { services: Record<string, { environment?: Record<string, unknown> }> };

  test("scrapes every replica of gateway, notifier and metrics through DNS, on the port compose gives each", () => {
    expect(config.scrape_configs.map((j) => j.job_name).sort()).toEqual(["gateway", "metrics", "notifier"]);
    for (const job of config.scrape_configs) {
      expect(job.metrics_path ?? "/metrics").toBe("/metrics");
      const port = Number(compose.services[job.job_name]?.environment?.PORT);
      expect(port, `compose sets PORT for ${job.job_name}`).toBeGreaterThan(0);
      expect(job.dns_sd_configs).toEqual([expect.objectContaining({ names: [job.job_name], type: "A", port })]);
    }
  });

  test("every 5 to 10 s", () => {
    for (const job of config.scrape_configs) expect(["5s", "10s"]).toContain(job.scrape_interval ?? config.global.scrape_interval);
  });
});

const dockerCompose = Bun.which("docker-compose");

describe.skipIf(!dockerCompose)("compose.yaml's observability profile (docker-compose)", () => {
  // An empty env file in place of a .env this clone may have (docker-compose 1.29 refuses /dev/null).
  const dir = mkdtempSync(join(tmpdir(), "rt-compose-"));
  const envFile = join(dir, "empty.env");
  writeFileSync(envFile, "");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** docker-compose with dummy secrets, ignoring any .env and host-port settings of this machine. */
  function run(args: string[]): string {
    const env: Record<string, string | undefined> = { ...process.env, ...COMPOSE_REQUIRED_ENV };
    for (const name of Object.keys(env)) if (/^(PROMETHEUS|GRAFANA)_/.test(name)) delete env[name];
    const proc = Bun.spawnSync([dockerCompose!, "--env-file", envFile, ...args], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
    expect(proc.exitCode, proc.stderr.toString()).toBe(0);
    return proc.stdout.toString();
  }

  for (const files of [["compose.yaml"], ["compose.yaml", "compose.cluster.yaml"]]) {
    const f = files.flatMap((file) => ["-f", file]);

    test(`${files.join(" + ")}: the profile lists prometheus and grafana`, () => {
      const services = run(["--profile", "observability", ...f, "config", "--services"]).split("\n");
      expect(services).toContain("prometheus");
      expect(services).toContain("grafana");
    });

    test(`${files.join(" + ")}: only they are in a profile (a plain up leaves them out), on 127.0.0.1 by default`, () => {
      const config = Bun.YAML.parse(run([...f, "config"])) as { services: Record<string, { profiles?: string[]; ports?: (string | { host_ip?: string })[] }> };
      const profiled = Object.entries(config.services).filter(([, s]) => s.profiles !== undefined);
      expect(Object.fromEntries(profiled.map(([name, s]) => [name, s.profiles]))).toEqual({ prometheus: ["observability"], grafana: ["observability"] });
      for (const name of ["prometheus", "grafana"]) {
        const ports = config.services[name]!.ports ?? [];
        expect(ports.length).toBeGreaterThan(0);
        for (const p of ports) expect(typeof p === "string" ? p : p.host_ip).toStartWith("127.0.0.1");
      }
    });
  }
});
