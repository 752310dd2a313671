import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";

/** JetStream's "stream name already in use with a different configuration": another process created it a moment ago. */
const STREAM_NAME_IN_USE = 10058;

/** True when every field `config` sets (but the name and the storage type) is already what `current` has. */
export function configHolds(current: StreamConfig, config: Partial<StreamConfig>): boolean {
  const have = current as unknown as Record<string, unknown>;
  return Object.entries(config).every(([k, v]) => k === "name" || k === "storage" || v === undefined || JSON.stringify(have[k]) === JSON.stringify(v));
}

/**
 * Creates the stream `config` describes, or brings an existing one to it (every limit; the name and
 * the storage type cannot change), and returns its info. An existing stream that already has the
 * config is left alone: services call this on every (re)connect, and an update of a replicated
 * stream is a proposal to every replica, which nats-server 2.9 handled badly while a replica was
 * catching up after a restart. Two services starting at once are fine: the one whose create loses
 * the race updates what the other made.
 */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<StreamInfo> {
  try {
    const info = await jsm.streams.info(config.name);
    if (configHolds(info.config, config)) return info;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
    try {
      return await jsm.streams.add(config);
    } catch (addErr) {
      if (!(addErr instanceof JetStreamApiError && addErr.code === STREAM_NAME_IN_USE)) throw addErr;
    }
  }
  const { name, storage: _storage, ...update } = config;
  return jsm.streams.update(name, update);
}
