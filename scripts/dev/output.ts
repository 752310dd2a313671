/** Writes the launcher's own lines and its children's lines, each prefixed with a padded name. */
export class Output {
  private width: number;

  constructor(names: readonly string[]) {
    this.width = Math.max(...names.map((n) => n.length));
  }

  /**
   * A line from `name` (a child, or "dev" for the launcher) to stdout or stderr. A child's
   * multi-line output (pretty logs, stack traces) arrives here one line at a time, so each line
   * gets the prefix; a line that sets colours ends with a reset, so none leaks into the next prefix.
   */
  line(name: string, text: string, to: "out" | "err" = "out"): void {
    const s = `${name.padEnd(this.width)} | ${withColorReset(text)}\n`;
    (to === "out" ? process.stdout : process.stderr).write(s);
  }

  /** A line without a prefix (the single "ready" line). */
  plain(text: string): void {
    process.stdout.write(`${text}\n`);
  }

  /** Resolves once what was written so far has been handed to the OS. */
  async flush(): Promise<void> {
    await Promise.all([
      new Promise<void>((resolve) => process.stdout.write("", () => resolve())),
      new Promise<void>((resolve) => process.stderr.write("", () => resolve())),
    ]);
  }
}

const ESC = "\x1b[";
const RESET = "\x1b[0m";

/** `text`, ended with an ANSI reset when it contains an escape sequence and does not end with one already. */
export function withColorReset(text: string): string {
  return text.includes(ESC) && !text.endsWith(RESET) ? text + RESET : text;
}

/** Calls `onLine` for every line of `stream` (the last one too, without its newline); resolves at its end. */
export async function forEachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const dec = new TextDecoder();
  let rest = "";
  try {
    for await (const chunk of stream) {
      rest += dec.decode(chunk, { stream: true });
      let nl = rest.indexOf("\n");
      while (nl >= 0) {
        onLine(rest.slice(0, nl).replace(/\r$/, ""));
        rest = rest.slice(nl + 1);
        nl = rest.indexOf("\n");
      }
    }
  } catch {
    // the pipe broke: the child is gone; keep what we have
  }
  rest += dec.decode();
  if (rest.length > 0) onLine(rest);
}
