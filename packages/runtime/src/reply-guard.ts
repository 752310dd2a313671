import type { Counter } from "prom-client";
import { replyAccepted, type Responder } from "@rt/protocol";
import { LogLimiter } from "./log-limiter.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";

/** The longest part of a refused reply subject written to the log. */
const LOGGED_REPLY_CHARS = 128;

/**
 * The responders' check of a request's reply subject (the rule is `replyAccepted`): a request
 * whose reply subject is not under the prefixes of its responder's callers is dropped unanswered,
 * counted in `rt_reply_refused_total{responder}` and logged at most once per responder every 5 s.
 */
export class ReplyGuard {
  private readonly refused: Counter<"responder">;
  private readonly logs: LogLimiter;

  /** `responders`: the ones this service runs (their counters start at 0). */
  constructor(metrics: Metrics, private readonly log: Logger, responders: readonly Responder[], logEveryMs = 5000) {
    this.refused = metrics.counter("reply_refused_total", "Requests dropped unanswered because their reply subject is not under the prefixes of the responder's callers", ["responder"]);
    for (const responder of responders) this.refused.inc({ responder }, 0);
    this.logs = new LogLimiter(logEveryMs);
  }

  /**
   * False when `responder` must drop the request on `subject` (nothing done, nothing published):
   * its reply subject is there and not one `responder` may answer on. A request without a reply
   * subject passes (nothing will be published to answer it).
   */
  allows(responder: Responder, subject: string, reply: string | undefined): boolean {
    if (!reply || replyAccepted(responder, reply)) return true;
    this.refused.inc({ responder });
    this.logs.warn(this.log, { responder, subject, reply: reply.slice(0, LOGGED_REPLY_CHARS) }, "request refused: its reply subject is not an inbox of the responder's callers", responder);
    return false;
  }
}
