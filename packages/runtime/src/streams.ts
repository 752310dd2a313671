import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";

/** JetStream's "stream name already in use with a different configuration": another process created it a moment ago. */
const STREAM_NAME_IN_USE = 10058;

/**
 * Creates the stream `config` describes, or brings an existing one to it (every limit; the name and
 * the storage type cannot change), and returns its info. Two services starting at once are fine:
 * the one whose create loses the race updates what the other made.
 */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<StreamInfo> {
  try {
    await jsm.streams.info(config.name);
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
