import type { MonitorRelay } from "../channels/monitor.ts";
import type { MonitorData } from "./socket-data.ts";
import type { ProtocolAdapter } from "./adapter.ts";
import { closeForRate, goingAway, internalError } from "./legacy-codes.ts";
import type { SocketLimits } from "./limits.ts";

/** `/system-monitor`: listen only; a socket that falls behind is conflated (newest sample per host), never closed. */
export function legacyMonitorAdapter(monitor: MonitorRelay, limits: SocketLimits): ProtocolAdapter<MonitorData> {
  return {
    open(ws) {
      monitor.open(ws);
    },
    message() {}, // what a monitor socket sends is ignored
    overRate: closeForRate,
    drain(ws) {
      monitor.check(ws, ws.data, limits.backpressureBytes);
    },
    close() {},
    sweep(ws) {
      monitor.check(ws, ws.data, limits.backpressureBytes);
    },
    shutdown: goingAway,
    internalError,
  };
}
