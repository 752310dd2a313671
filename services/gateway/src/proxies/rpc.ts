import { RPC_METHOD_PATTERN, centrifugo, rpcSubject, type proxy } from "@rt/protocol";
import type { ProxyCaller } from "./nats-request.ts";
import { answerData, type ProxyOutcome } from "./outcome.ts";
import { dataField, userFields, type ProxyConnection } from "./request-fields.ts";

/** A backend's answer to an RPC. */
export interface RpcGrant {
  /** The rpc result's `data`; undefined: the backend sent none (reply `{}`). */
  data: unknown;
}

/** The request body on `rpc.<method>`. */
export function rpcRequest(conn: ProxyConnection, method: string, data?: unknown): proxy.RpcRequest {
  return { ...userFields(conn), method, ...dataField(data) };
}

/**
 * Asks the backend serving `method` (on `rpc.<method>`) with the client's `data`. A method that is
 * not 1-64 of `A-Z a-z 0-9 _ -` is error 107 (bad request), asked of nobody. Nobody serving it:
 * 108 at once; no answer within PROXY_TIMEOUT: a temporary 100.
 */
export function askRpc(caller: ProxyCaller, conn: ProxyConnection, method: string, data?: unknown): Promise<ProxyOutcome<RpcGrant>> {
  if (!RPC_METHOD_PATTERN.test(method)) {
    const code = centrifugo.ErrorCode.BadRequest;
    return Promise.resolve({ kind: "error", error: { code, message: centrifugo.ERROR_MESSAGES[code], temporary: false } });
  }
  return caller.call("rpc", rpcSubject(method), rpcRequest(conn, method, data), (r) => ({ data: answerData("/result/data", r.data, r.b64data) }));
}
