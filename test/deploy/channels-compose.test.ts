// CHANNELS_FILE in compose: every gateway and the notifier read the same file, mounted read-only,
// with compose.yaml alone and with the cluster override; unset, a file that defines nothing.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseChannelsFile } from "@rt/protocol";
import { COMPOSE_REQUIRED_ENV, DOCKER_COMPOSE, ROOT, compose } from "./compose.ts";

interface Service {
  environment?: Record<string, string | null>;
  volumes?: (string | { source?: string; target?: string; read_only?: boolean })[];
}

const TARGET = "/etc/realtime/channels.json";

function services(files: readonly string[], env: Record<string, string>): Record<string, Service> {
  const r = compose([...files.flatMap((f) => ["-f", f]), "config"], env);
  expect(r.exitCode, r.stderr).toBe(0);
  return (Bun.YAML.parse(r.stdout) as { services: Record<string, Service> }).services;
}
const mounts = (s: Service): string[] => (s.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}${v.read_only ? ":ro" : ""}`));

describe.skipIf(!DOCKER_COMPOSE)("compose: CHANNELS_FILE (docker-compose)", () => {
  for (const files of [["compose.yaml"], ["compose.yaml", "compose.cluster.yaml"]] as const) {
    test(`${files.join(" + ")}: the gateways and the notifier get the file at ${TARGET} (deploy/channels.json by default, CHANNELS_FILE's when set); metrics does not`, () => {
      for (const [env, source] of [[{}, join(ROOT, "deploy/channels.json")], [{ CHANNELS_FILE: "/srv/app/channels.json" }, "/srv/app/channels.json"]] as const) {
        const s = services(files, { ...COMPOSE_REQUIRED_ENV, ...env });
        for (const name of ["gateway", "notifier"]) {
          expect(s[name]!.environment?.CHANNELS_FILE, name).toBe(TARGET);
          expect(mounts(s[name]!), name).toContain(`${source}:${TARGET}:ro`);
        }
        expect(s.metrics!.environment?.CHANNELS_FILE).toBeUndefined();
      }
    });
  }
});

test("deploy/channels.json, compose's default, defines nothing: the built-in channels only, as without a file", () => {
  const loaded = parseChannelsFile(readFileSync(join(ROOT, "deploy/channels.json"), "utf8"), { size: 100, ttlMs: 86_400_000 });
  expect(loaded.ok ? loaded.namespaces.all().map((n) => n.name) : loaded.problems).toEqual(["chat"]);
  expect(loaded.ok && loaded.namespaces.withoutNamespace).toBeUndefined();
});
