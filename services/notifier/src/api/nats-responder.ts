import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { API_PREFIX, API_WILDCARD, MAX_API_REQUEST_BYTES, centrifugo, methodFromSubject, type ApiAnswer } from "@rt/protocol";
import type { Logger, ReplyGuard } from "@rt/runtime";
import { apiMethodLabel, type NotifierMetrics } from "../metrics.ts";
import { NOTIFIER_QUEUE } from "../nats-api.ts";
import { apiError, type ApiDispatcher, type BatchAnswer } from "./dispatcher.ts";

const { ErrorCode } = centrifugo;

/** The server API over NATS: a request on `api.<method>` with the same JSON as `POST /api/<method>`, answered the same (one notifier of the queue group answers). */
export class ApiResponder {
  private sub: Subscription | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });

  constructor(
    private readonly nc: NatsConnection,
    private readonly api: ApiDispatcher,
    private readonly log: Logger,
    private readonly metrics: Pick<NotifierMetrics, "apiCall">,
    /** Which reply subjects a request may name (backends' inboxes). */
    private readonly replies: ReplyGuard,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(API_WILDCARD, {
      queue: NOTIFIER_QUEUE,
      callback: (err, msg) => {
        if (err) return this.log.error({ err: String(err) }, "api subscription failed");
        const p = this.handle(msg).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      },
    });
  }

  /** Stops taking requests and waits for the ones being served. */
  async stop(): Promise<void> {
    await this.sub?.drain().catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
  }

  private async handle(msg: Msg): Promise<void> {
    if (!msg.reply || !this.replies.allows("api", msg.subject, msg.reply)) return;
    const method = methodFromSubject(API_PREFIX, msg.subject) ?? "";
    let answer: ApiAnswer | BatchAnswer;
    if (msg.data.byteLength > MAX_API_REQUEST_BYTES) answer = apiError(ErrorCode.BadRequest, `request must be at most ${MAX_API_REQUEST_BYTES} bytes`);
    else {
      let body: unknown;
      try {
        body = msg.data.byteLength === 0 ? {} : JSON.parse(this.decoder.decode(msg.data));
      } catch {
        body = undefined;
      }
      answer = body === undefined ? apiError(ErrorCode.BadRequest, "the payload must be JSON") : await this.api.call(method, body);
    }
    this.metrics.apiCall(apiMethodLabel(method), "error" in answer ? answer.error.code : 0, "nats");
    try {
      msg.respond(JSON.stringify(answer));
    } catch (err) {
      this.log.warn({ err: String(err) }, "could not answer an api request");
    }
  }
}
