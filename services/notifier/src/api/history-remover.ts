import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NoStreamError, storedAt, type NamespaceChannel } from "./channel-publisher.ts";

/** How long the purge is waited for. */
const API_TIMEOUT_MS = 5000;

/**
 * The server API's `history_remove`: the channel's messages purged from its stream (ROOMS or
 * `NS_<ns>`, filtered by the channel's store subject). The gateways' cursors and the offsets
 * clients hold are untouched: the next publication follows on, and a recovery from before the
 * purge finds its offset gone (not recovered), as after a trim, unless a gateway still has what it
 * missed in the channel's in-memory ring.
 */
export class HistoryRemover {
  private jsm: JetStreamManager | undefined;

  constructor(private readonly nc: NatsConnection) {}

  async remove(ref: NamespaceChannel): Promise<void> {
    const { stream, subject } = storedAt(ref);
    this.jsm ??= await jetstreamManager(this.nc, { timeout: API_TIMEOUT_MS, checkAPI: false });
    try {
      await this.jsm.streams.purge(stream, { filter: subject });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) throw new NoStreamError(err.message);
      throw err;
    }
  }
}
