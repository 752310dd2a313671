// CHANNELS_FILE read at start-up: the namespaces, or one configuration error line per problem
// in the file (the service then exits 2, as for any bad variable).
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigErrors, EnvReader, readChannelsFile } from "../src/index.ts";
import { tempFiles } from "./fixtures/nats-creds.ts";

const { dir, file, remove } = tempFiles("rt-channels-file-");
afterAll(remove);
const history = { size: 100, ttlMs: 86_400_000 };

/** The namespaces' names read with `env`, or the ConfigErrors' messages. */
function read(env: Record<string, string>): string[] {
  const r = new EnvReader(env);
  const namespaces = readChannelsFile(r, history);
  try {
    return r.done(namespaces).all().map((n) => n.name);
  } catch (err) {
    if (!(err instanceof ConfigErrors)) throw err;
    return err.errors.map((e) => e.message);
  }
}

test("unset: the built-in chat", () => {
  expect(read({})).toEqual(["chat"]);
  expect(read({ CHANNELS_FILE: "" })).toEqual(["chat"]);
});

test("a good file: its namespaces, the built-in chat, and without_namespace last", () => {
  const path = file(JSON.stringify({ channel: { without_namespace: { presence: true }, namespaces: [{ name: "orders", history_size: 10, history_ttl: "300s" }] } }));
  expect(read({ CHANNELS_FILE: path })).toEqual(["chat", "orders", ""]);
});

test("a bad file: one error per problem, each naming CHANNELS_FILE, the namespace and the option", () => {
  const path = file(JSON.stringify({ channel: { namespaces: [{ name: "orders", history_ttl: 5, histroy_size: 1 }, { name: "orders" }] } }));
  expect(read({ CHANNELS_FILE: path })).toEqual([
    'CHANNELS_FILE: namespace "orders": history_ttl: must be a duration like "300s", got 5',
    'CHANNELS_FILE: namespace "orders": unknown option: histroy_size',
    'CHANNELS_FILE: namespace "orders": duplicate namespace (namespaces[0] and namespaces[1])',
  ]);
});

test("a file that cannot be read, or is not UTF-8, or is too large", () => {
  expect(read({ CHANNELS_FILE: join(dir, "missing.json") })).toEqual([`CHANNELS_FILE: cannot read ${join(dir, "missing.json")}: ENOENT`]);
  expect(read({ CHANNELS_FILE: dir })).toEqual([`CHANNELS_FILE: cannot read ${dir}: EISDIR`]);
  const latin1 = join(dir, "latin1.json");
  writeFileSync(latin1, new Uint8Array([0x7b, 0xff, 0x7d]));
  expect(read({ CHANNELS_FILE: latin1 })[0]).toStartWith(`CHANNELS_FILE: cannot read ${latin1}: `);
  const big = file(" ".repeat(1024 * 1024 + 1));
  expect(read({ CHANNELS_FILE: big })).toEqual([`CHANNELS_FILE: ${big} is larger than 1048576 bytes`]);
});

test("a service started with a bad file exits 2 and prints each problem on its own line", () => {
  const path = file(JSON.stringify({ channel: { namespaces: [{ name: "a b" }, { name: "x", presence: "yes" }] } }));
  const script = `
    import { EnvReader, loadConfigOrExit, readChannelsFile } from "${join(import.meta.dir, "../src/index.ts")}";
    loadConfigOrExit("gateway", () => { const r = new EnvReader(process.env); const n = readChannelsFile(r, { size: 1, ttlMs: 1000 }); return r.done(n); });
    console.log("started");`;
  const run = Bun.spawnSync([process.execPath, "-e", script], { env: { ...process.env, CHANNELS_FILE: path }, stdout: "pipe", stderr: "pipe" });
  expect(run.exitCode).toBe(2);
  expect(run.stdout.toString()).toBe("");
  expect(run.stderr.toString().trim().split("\n")).toEqual([
    'gateway: invalid configuration: CHANNELS_FILE: namespaces[0]: name: must match ^[A-Za-z0-9_.-]{1,64}$, got "a b"',
    'gateway: invalid configuration: CHANNELS_FILE: namespace "x": presence: must be true or false, got "yes"',
  ]);
});
