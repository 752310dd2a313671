// createLogger in a real process: the format follows stdout (a pipe here, a pseudo-terminal through
// `script`), LOG_PRETTY overrides it, and redaction holds in both formats.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const SAMPLE = join(import.meta.dir, "fixtures", "log-sample.ts");
const SECRETS = /SECRET/;
const ANSI = /\x1b\[/;
/** Variables of the caller's environment that would change the format or the colours. */
const INPUTS = ["LOG_PRETTY", "FORCE_COLOR", "NO_COLOR", "TERM"];
const SCRIPT = Bun.which("script"); // util-linux: runs a command on a pseudo-terminal

function baseEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !INPUTS.includes(k)) base[k] = v;
  return { ...base, ...env };
}

/** Runs the sample with stdout a pipe; its exit code, stdout and stderr. */
async function runPiped(env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([process.execPath, SAMPLE], { env: baseEnv(env), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

/** Runs the sample with stdout a terminal; what the terminal showed, line by line. */
async function runOnTerminal(env: Record<string, string>): Promise<{ code: number; lines: string[] }> {
  const proc = Bun.spawn([SCRIPT!, "-qec", `exec '${process.execPath}' '${SAMPLE}'`, "/dev/null"], { env: baseEnv({ TERM: "xterm", ...env }), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return { code, lines: out.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l.length > 0) };
}

describe("createLogger", () => {
  test("stdout a pipe: JSON lines, secrets redacted", async () => {
    const { code, out } = await runPiped({});
    expect(code).toBe(0);
    const records = out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.msg)).toEqual(["hello", "joined", "failed"]);
    expect(records[0]).toMatchObject({ service: "sample", token: "[redacted]", user: { password: "[redacted]", name: "ann" }, headers: { authorization: "[redacted]" } });
    expect(records[1]).toMatchObject({ module: "rooms", body: "[redacted]" });
    expect(out).not.toMatch(SECRETS);
  });

  test("LOG_PRETTY=1 on a pipe: pretty, one line a record (an error's stack on the lines after), secrets redacted, no colours", async () => {
    const { code, out } = await runPiped({ LOG_PRETTY: "1" });
    expect(code).toBe(0);
    expect(out).not.toMatch(SECRETS);
    expect(out).not.toMatch(ANSI);
    const lines = out.trim().split("\n");
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: hello \{"token":"\[redacted\]","user":\{"password":"\[redacted\]","name":"ann"\},"headers":\{"authorization":"\[redacted\]"\}\}$/);
    expect(lines[1]).toMatch(/^\[[\d:.]+\] WARN: rooms: joined \{"room":"lobby","body":"\[redacted\]"\}$/);
    expect(lines[2]).toMatch(/^\[[\d:.]+\] ERROR: failed/);
    expect(lines.slice(3).join("\n")).toContain("Error: boom");
    expect(() => JSON.parse(lines[0]!)).toThrow();
  });

  test("LOG_PRETTY=1 with FORCE_COLOR=1 (what the launcher gives its children on a terminal): coloured", async () => {
    const { out } = await runPiped({ LOG_PRETTY: "1", FORCE_COLOR: "1" });
    expect(out).toMatch(/^\[[\d:.]+\] \x1b\[32mINFO\x1b\[39m: /);
    expect(out).not.toMatch(SECRETS);
  });

  test("a bad LOG_PRETTY: one line naming it, exit 2, nothing logged", async () => {
    const { code, out, err } = await runPiped({ LOG_PRETTY: "yes please" });
    expect(code).toBe(2);
    expect(out).toBe("");
    expect(err).toBe(`sample: invalid configuration: LOG_PRETTY: must be 1 or 0, got "yes please"\n`);
  });

  test.skipIf(SCRIPT === null)("stdout a terminal: pretty and coloured, secrets redacted; NO_COLOR drops the colours; LOG_PRETTY=0 gives JSON", async () => {
    const tty = await runOnTerminal({});
    expect(tty.code).toBe(0);
    expect(tty.lines[0]).toMatch(/^\[[\d:.]+\] \x1b\[32mINFO\x1b\[39m: \x1b\[36mhello\x1b\[39m /);
    expect(tty.lines.join("\n")).not.toMatch(SECRETS);

    const plain = await runOnTerminal({ NO_COLOR: "1" });
    expect(plain.lines[0]).toMatch(/^\[[\d:.]+\] INFO: hello \{/);
    expect(plain.lines.join("\n")).not.toMatch(ANSI);

    const json = await runOnTerminal({ LOG_PRETTY: "0" });
    expect(json.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["hello", "joined", "failed"]);
    expect(json.lines.join("\n")).not.toMatch(SECRETS);
  });
});
