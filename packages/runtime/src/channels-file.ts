import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defaultNamespaces, parseChannelsFile, type ChannelNamespaces, type RoomHistory } from "@rt/protocol";
import type { EnvReader } from "./env.ts";

/** A channels file larger than this is refused (it is a configuration, not data). */
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * CHANNELS_FILE: the path of a JSON file holding a Centrifugo v6 `channel` section (the namespaces
 * an application defines). Read and checked once, at start-up; every problem in it is recorded on
 * `r` as its own line (`CHANNELS_FILE: namespace "orders": history_ttl: …`), so the service exits 2
 * naming them all. Unset: the built-in channels. `history` is the built-in `chat`'s
 * (ROOM_HISTORY_SIZE and ROOM_HISTORY_TTL), used when the file does not define `chat`. A relative
 * path is read from `baseDir` (the working folder by default).
 */
export function readChannelsFile(r: EnvReader, history: RoomHistory, name = "CHANNELS_FILE", baseDir = process.cwd()): ChannelNamespaces {
  const fallback = defaultNamespaces(history);
  const given = r.string(name);
  if (given === undefined) return fallback;
  const path = resolve(baseDir, given);
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.byteLength > MAX_FILE_BYTES) {
      r.fail(name, `${path} is larger than ${MAX_FILE_BYTES} bytes`);
      return fallback;
    }
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    r.fail(name, `cannot read ${path}: ${typeof code === "string" ? code : err instanceof Error ? err.message : String(err)}`);
    return fallback;
  }
  const loaded = parseChannelsFile(text, history);
  if (loaded.ok) return loaded.namespaces;
  r.failEach(name, loaded.problems);
  return fallback;
}
