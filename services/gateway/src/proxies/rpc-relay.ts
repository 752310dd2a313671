import { ProtocolError, RPC_METHOD_PATTERN, centrifugo, depthWithin, rpcSubject } from "@rt/protocol";
import type { Broker } from "../broker/broker.ts";

const { ErrorCode } = centrifugo;

/** RPC requests wait this long for a backend's answer (docs/websocket.md: 108 after 5 s). */
const RPC_TIMEOUT_MS = 5000;
/** Largest RPC answer relayed to the client. */
const MAX_RPC_ANSWER_BYTES = 1024 * 1024;

/** Who calls: the connection's user and client id. */
export interface RpcCaller {
  user: string;
  client: string;
}

/**
 * A client's `rpc {method, data}` as it is served today: a NATS request on `rpc.<method>` with
 * `{"user", "client", "data"}`, answered by any backend with a plain subscription; the JSON answer
 * is the result's `data` (the proxy envelope of rpc.ts replaces it once the proxies are wired). A method that is not 1-64 of `A-Z a-z 0-9 _ -`, or data nested too deep: 107. Nobody
 * answering in time (or no responders): 108. An answer that is not JSON, too large or too deep: 100.
 */
export class RpcRelay {
  private readonly decoder = new TextDecoder();

  constructor(private readonly broker: Broker) {}

  /** Asks a backend; the result `{data}`. */
  async call(caller: RpcCaller, method: string, data: unknown): Promise<{ data: unknown }> {
    if (!RPC_METHOD_PATTERN.test(method)) throw new ProtocolError(ErrorCode.BadRequest);
    if (!depthWithin(data)) throw new ProtocolError(ErrorCode.BadRequest);
    let answer;
    try {
      answer = await this.broker.request(rpcSubject(method), JSON.stringify({ user: caller.user, client: caller.client, data: data ?? null }), RPC_TIMEOUT_MS);
    } catch {
      throw new ProtocolError(ErrorCode.NotAvailable); // nobody answered in time (or no responders)
    }
    if (answer.headers?.hasError) throw new ProtocolError(ErrorCode.NotAvailable);
    if (answer.data.byteLength > MAX_RPC_ANSWER_BYTES) throw new ProtocolError(ErrorCode.Internal);
    let value: unknown;
    try {
      value = answer.data.byteLength === 0 ? null : JSON.parse(this.decoder.decode(answer.data));
    } catch {
      throw new ProtocolError(ErrorCode.Internal); // the backend answered something that is not JSON
    }
    if (!depthWithin(value)) throw new ProtocolError(ErrorCode.Internal);
    return { data: value };
  }
}
