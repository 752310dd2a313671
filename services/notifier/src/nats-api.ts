import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { NOTIFIER_SEND, type NotifyRequest } from "@rt/protocol";
import type { Logger, ReplyGuard } from "@rt/runtime";
import type { NotifierMetrics } from "./metrics.ts";
import { failed, type Outcome } from "./outcome.ts";
import { sendParsed } from "./batch.ts";
import { parseBody } from "./request.ts";

/** Queue group shared by every notifier process: each request is handled by one of them. */
export const NOTIFIER_QUEUE = "notifier";

/** The `notifier.send` responder: same checks and answers as HTTP (one notification, or an array of them); errors carry their HTTP status. */
export class NatsApi {
  private sub: Subscription | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly send: (req: NotifyRequest) => Promise<Outcome>,
    private readonly log: Logger,
    private readonly metrics: Pick<NotifierMetrics, "apiCall">,
    /** Which reply subjects a request may name (backends' inboxes). */
    private readonly replies: ReplyGuard,
  ) {}

  /** Starts answering requests on NOTIFIER_SEND. */
  start(): void {
    this.sub = this.nc.subscribe(NOTIFIER_SEND, {
      queue: NOTIFIER_QUEUE,
      callback: (err, msg) => {
        if (err) {
          this.log.error({ err: String(err) }, "notifier.send subscription failed");
          return;
        }
        const p = this.handle(msg).finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      },
    });
    this.log.info({ subject: NOTIFIER_SEND, queue: NOTIFIER_QUEUE }, "listening for NATS requests");
  }

  /** Stops taking requests and waits for the ones being handled. */
  async stop(): Promise<void> {
    await this.sub?.drain().catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
  }

  private async handle(msg: Msg): Promise<void> {
    if (!this.replies.allows("notifier.send", msg.subject, msg.reply)) return;
    let outcome: Awaited<ReturnType<typeof sendParsed>>;
    try {
      outcome = await sendParsed(parseBody(msg.data), this.send);
    } catch (err) {
      this.log.error({ err }, "notifier.send handler failed");
      outcome = failed(500, "internal error");
    }
    this.metrics.apiCall(Array.isArray(outcome.body) ? "notify_batch" : "notify", outcome.status, "nats");
    if (!msg.reply) return;
    // A batch answers its array (each entry with its status); one notification its body, with `status` on errors.
    const body = Array.isArray(outcome.body) || outcome.status === 200 || outcome.status === 202 ? outcome.body : { ...outcome.body, status: outcome.status };
    try {
      msg.respond(JSON.stringify(body));
    } catch (err) {
      this.log.warn({ err: String(err) }, "could not answer a notifier.send request");
    }
  }
}
