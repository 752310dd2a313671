import { centrifugo } from "@rt/protocol";
import type { ClientData } from "../socket-data.ts";
import type { ProtocolAdapter } from "../adapter.ts";
import type { SocketLimits } from "../limits.ts";
import { closeIfOver } from "../limits.ts";

const { DisconnectCode } = centrifugo;

/** `/connection/websocket`: the Centrifugo client protocol; each socket's Client holds its session. */
export function centrifugoAdapter(limits: SocketLimits): ProtocolAdapter<ClientData> {
  return {
    open(ws) {
      ws.data.client.attach(ws);
    },
    message(ws, message) {
      ws.data.client.onFrame(message);
    },
    overRate(ws) {
      ws.data.client.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
    },
    drain(ws) {
      ws.data.client.drain();
    },
    close(ws) {
      ws.data.client.closed();
    },
    sweep(ws, now) {
      if (closeIfOver(ws, now, limits, DisconnectCode.Slow, DisconnectCode.Expired)) ws.data.client.closed();
      else ws.data.client.tick(now);
    },
    shutdown(ws) {
      ws.data.client.disconnect(DisconnectCode.Shutdown);
    },
    internalError(ws) {
      ws.data.client.disconnect(DisconnectCode.InternalError);
    },
  };
}

