import { centrifugo } from "@rt/protocol";
import { readUniWebSocketConnect } from "../../transports/connect-request.ts";
import { isRefusal } from "../../transports/http-checks.ts";
import type { Hub } from "../../transports/hub.ts";
import { WebSocketTransport } from "../../transports/websocket.ts";
import type { ClientData } from "../socket-data.ts";
import type { ProtocolAdapter } from "../adapter.ts";

const { DisconnectCode } = centrifugo;

/**
 * `/connection/websocket` and `/connection/uni_websocket`: the Centrifugo client protocol; each
 * socket's session holds its state and talks to it through a WebSocketTransport (a write is
 * `ws.send`, a topic a Bun topic: the fan-out stays Bun's).
 */
export function centrifugoAdapter(hub: Hub): ProtocolAdapter<ClientData> {
  const transports = new WeakMap<object, WebSocketTransport>();
  /** The uni_websocket sockets that sent their connect request: what they send after is ignored. */
  const connected = new WeakSet<object>();
  return {
    open(ws) {
      const t = new WebSocketTransport(ws, ws.data.client.encoding, ws.data.unidirectional, hub);
      transports.set(ws, t);
      ws.data.client.attach(t);
    },
    message(ws, message) {
      if (!ws.data.unidirectional) return ws.data.client.onFrame(message);
      // Push-only: the first message is the connect request; later ones are ignored (unread).
      if (connected.has(ws)) return;
      connected.add(ws);
      const request = readUniWebSocketConnect(message);
      if (isRefusal(request)) ws.data.client.disconnect(DisconnectCode.BadRequest, "uni_connect_request");
      else ws.data.client.connectUni(request);
    },
    overRate(ws) {
      ws.data.client.disconnect(DisconnectCode.TooManyRequests, "rate_limit");
    },
    drain(ws) {
      ws.data.client.drain();
    },
    close(ws) {
      transports.get(ws)?.socketClosed();
      ws.data.client.closed();
    },
    sweep(ws, now) {
      ws.data.client.sweep(now);
    },
    shutdown(ws) {
      ws.data.client.disconnect(DisconnectCode.Shutdown);
    },
    internalError(ws) {
      ws.data.client.disconnect(DisconnectCode.InternalError);
    },
  };
}
