import { errors } from "@nats-io/transport-node";
import {
  API_METHODS, BATCHABLE, GATEWAY_API_PREFIX, ProtocolError, apiAnswer, centrifugo, dataSizeError, depthWithin, isApiMethod, methodSubject, roomPayload, storedSizeError,
  type ApiAnswer, type ApiMethodName, type BatchRequest, type BatchableMethod, type BroadcastRequest, type ChannelPolicy, type ChannelRequest, type PublishRequest, type PublishResult, type SubscribeRequest,
} from "@rt/protocol";
import type { Logger, RequestMux } from "@rt/runtime";
import { MessageTooLargeError, NoStreamError, NotConnectedError, type ChannelPublisher, type NamespaceChannel } from "./channel-publisher.ts";
import type { HistoryRemover } from "./history-remover.ts";

const { ErrorCode } = centrifugo;

/** How long a gateway is given to answer (the gathering methods wait up to 1 s for the others themselves). */
const GATEWAY_TIMEOUT_MS = 5000;
/** Most publications of one broadcast or commands of one batch in flight at once. */
const MAX_IN_FLIGHT = 256;
/** The largest gateway answer relayed. */
const MAX_GATEWAY_ANSWER_BYTES = 64 * 1024 * 1024;

/** What `batch` answers: `{"replies": [...]}` at the top level (Centrifugo's shape), not inside `result`. */
export type BatchAnswer = { replies: Array<Record<string, unknown>> };

/** An error answer: the code's message, or `message`. */
export const apiError = (code: number, message?: string): { error: { code: number; message: string } } => new ProtocolError(code, undefined, message).toAnswer();

/**
 * The server API, the same for HTTP and NATS: each method's request checked against its schema
 * (107 otherwise), then served. Publications are refused or allowed by the channel policy (the
 * gateways' own), then published here, straight into the channel's stream or onto core NATS (the
 * fast path: no gateway in between), once their data fits MAX_MESSAGE_BYTES (107 naming the limit
 * otherwise: the gateways would not relay it); `history_remove` purges the channel from its stream
 * here too; everything that needs sockets and their state goes to one gateway on
 * `gateway.api.<method>`, which asks the policy there and the other gateways where the method spans
 * them.
 */
export class ApiDispatcher {
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });

  /**
   * `gateways`: requests answered under REPLY_PREFIX.gatewayApi (the only inboxes of the notifier a
   * gateway may write to). `maxMessageBytes`: MAX_MESSAGE_BYTES, the largest publication data.
   */
  constructor(
    private readonly gateways: RequestMux,
    private readonly channels: ChannelPublisher,
    private readonly history: HistoryRemover,
    private readonly policy: ChannelPolicy,
    private readonly maxMessageBytes: number,
    private readonly log: Logger,
  ) {}

  /** Serves one call; never throws. */
  async call(method: string, body: unknown): Promise<ApiAnswer | BatchAnswer> {
    if (!isApiMethod(method)) return apiError(ErrorCode.MethodNotFound, "not found");
    if (!API_METHODS[method].validator.check(body)) return apiError(ErrorCode.BadRequest);
    try {
      if (method === "batch") return await this.batch(body as BatchRequest);
      return { result: await this.serve(method, body) };
    } catch (err) {
      return this.failure(err);
    }
  }

  private serve(method: Exclude<ApiMethodName, "batch">, body: unknown): Promise<unknown> {
    switch (method) {
      case "publish": {
        const req = body as PublishRequest;
        return this.publish(req.channel, (delta) => this.payload(req, delta), req);
      }
      case "broadcast":
        return this.broadcast(body as BroadcastRequest);
      case "history_remove":
        return this.removeHistory((body as ChannelRequest).channel);
      case "subscribe": {
        // The channel info rides in every publication, presence answer and join of the subscriber, the data in one push: bounded like publication data.
        const req = body as SubscribeRequest;
        for (const value of [req.info, req.data]) if (value !== undefined) this.payload({ data: value }, false);
        return this.askGateway(method, body);
      }
      default:
        return this.askGateway(method, body);
    }
  }

  /**
   * A publication, as the policy allows the server (`#<user>` and `system:monitor` are 103, unknown
   * namespaces 102); its stored form from `payload` once the channel is good, marked to go as a
   * Fossil delta when the request says `delta` or the namespace has `delta_publish` (stored with
   * it: every gateway sends it alike).
   */
  private async publish(channel: string, payload: (delta: boolean) => string, req: Pick<PublishRequest, "idempotency_key" | "skip_history" | "delta">): Promise<PublishResult> {
    const ref = this.allowed("publish", channel);
    const delta = req.delta === true || ref.namespace.options.delta_publish;
    return this.channels.publish(ref, payload(delta), { idempotencyKey: req.idempotency_key, skipHistory: req.skip_history });
  }

  /** The channel of a namespace when the policy lets the server do `action` on it (`#<user>` and `system:monitor`: 103). */
  private allowed(action: "publish" | "history_remove", channel: string): NamespaceChannel {
    const decision = this.policy.check({ kind: "server" }, action, channel);
    if (decision.kind === "deny") throw new ProtocolError(decision.code);
    const ref = decision.channel;
    if (ref.kind !== "namespace") throw new ProtocolError(ErrorCode.PermissionDenied); // notifications go through POST /notifications; the monitor carries samples
    return ref;
  }

  /**
   * The publication as stored (RoomPublication JSON: the data, its `tags`, and `delta` when it goes
   * as a delta), serialized once; 107 when the data nests too deep or is over MAX_MESSAGE_BYTES, or
   * with its tags is over what the gateways relay (the message names the limit).
   */
  private payload(req: Pick<PublishRequest, "data" | "tags">, delta: boolean): string {
    if (!depthWithin(req.data)) throw new ProtocolError(ErrorCode.BadRequest);
    const json = JSON.stringify(req.data);
    const tooLarge = dataSizeError(json, this.maxMessageBytes);
    if (tooLarge !== undefined) throw new ProtocolError(ErrorCode.BadRequest, undefined, tooLarge);
    const payload = roomPayload(json, undefined, req.tags, delta);
    const storedTooLarge = req.tags === undefined ? undefined : storedSizeError(payload, this.maxMessageBytes);
    if (storedTooLarge !== undefined) throw new ProtocolError(ErrorCode.BadRequest, undefined, storedTooLarge);
    return payload;
  }

  /**
   * The same publication into every channel: checked and serialized once (too large refuses the
   * whole call, nothing published); once more, marked as a delta, when a channel's namespace has
   * `delta_publish` and the request did not say `delta`.
   */
  private async broadcast(req: BroadcastRequest): Promise<{ responses: ApiAnswer[] }> {
    const payloads = new Map<boolean, string>();
    const payload = (delta: boolean): string => {
      let p = payloads.get(delta);
      if (p === undefined) payloads.set(delta, (p = this.payload(req, delta)));
      return p;
    };
    payload(req.delta === true);
    const responses = await inBatches(req.channels, MAX_IN_FLIGHT, async (channel) => {
      try {
        return { result: await this.publish(channel, payload, req) };
      } catch (err) {
        return this.failure(err);
      }
    });
    return { responses };
  }

  /** `history_remove`: a channel with history (108 without, 103 for `#<user>`), purged from its stream. */
  private async removeHistory(channel: string): Promise<object> {
    await this.history.remove(this.allowed("history_remove", channel));
    return {};
  }

  /** Each command `{"<method>": request}`, one after another (or at once with `parallel`); replies keep the order. */
  private async batch(req: BatchRequest): Promise<BatchAnswer> {
    const one = async (command: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const keys = Object.keys(command);
      const method = keys[0];
      if (keys.length !== 1 || !(BATCHABLE as readonly string[]).includes(method!)) return apiError(ErrorCode.MethodNotFound, "not found");
      const answer = await this.call(method as BatchableMethod, command[method!]);
      return "result" in answer ? { [method!]: answer.result } : answer;
    };
    const replies = req.parallel ? await inBatches(req.commands, MAX_IN_FLIGHT, one) : await inSequence(req.commands, one);
    return { replies };
  }

  /** A method served by a gateway: one of them answers (no gateway running: 108). */
  private async askGateway(method: string, body: unknown): Promise<unknown> {
    let text: string;
    try {
      const msg = await this.gateways.request(methodSubject(GATEWAY_API_PREFIX, method), JSON.stringify(body), GATEWAY_TIMEOUT_MS);
      if (msg.data.byteLength > MAX_GATEWAY_ANSWER_BYTES) throw new ProtocolError(ErrorCode.Internal);
      text = this.decoder.decode(msg.data);
    } catch (err) {
      if (err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders())) throw new ProtocolError(ErrorCode.NotAvailable);
      throw err;
    }
    const answer: unknown = JSON.parse(text);
    if (!apiAnswer.check(answer)) throw new Error("a gateway answered something that is not an API answer");
    if ("error" in answer) throw new ProtocolError(answer.error.code);
    return answer.result;
  }

  private failure(err: unknown): ApiAnswer {
    if (err instanceof ProtocolError) return err.toAnswer();
    if (err instanceof NoStreamError) return apiError(ErrorCode.Internal, `${err.message}; retry shortly`);
    if (err instanceof NotConnectedError) return apiError(ErrorCode.Internal, "not connected to NATS; retry shortly");
    // The stream's own limit is below ours (the gateways run with a smaller MAX_MESSAGE_BYTES): too large all the same.
    if (err instanceof MessageTooLargeError) return apiError(ErrorCode.BadRequest, err.message);
    this.log.warn({ err: String(err) }, "server API call failed");
    return apiError(ErrorCode.Internal);
  }
}

/** `fn` over `items`, at most `width` at once, results in order. */
async function inBatches<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

/** `fn` over `items`, one after another. */
async function inSequence<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}
