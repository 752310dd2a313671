import { errors, type Msg } from "@nats-io/transport-node";
import { MAX_JSON_DEPTH, depthWithin, proxy } from "@rt/protocol";
import { LogLimiter, secondsSince, type Logger } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { UnusableAnswer, failureError, type ProxyFailure, type ProxyOutcome } from "./outcome.ts";
import type { ProxyMetrics } from "./proxy-metrics.ts";

/**
 * What proxy requests go through: the gateway's Broker, whose `request` sends with a reply under
 * REPLY_PREFIX.proxy (one RequestMux, the only gateway inbox a backend may write to), rejects at once
 * on no responders or when NATS is down, on the link dropping, and after the timeout.
 */
export type ProxyRequester = Pick<Broker, "request">;

/** How much of an answer's problems is logged. */
const LOGGED_ERRORS = 3;
/** Nesting accepted in a whole answer (its payloads are checked against MAX_JSON_DEPTH on their own). */
const MAX_ANSWER_DEPTH = MAX_JSON_DEPTH + 8;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** An answer that cannot be used, with why (logged, never sent to the client). */
class Malformed extends Error {
  constructor(readonly problems: Array<{ path: string; message: string }>) {
    super("malformed answer");
  }
}

/**
 * One request to backends and its answer as an outcome: sends the body (serialized once), waits at
 * most PROXY_TIMEOUT, checks the answer (proxy.checkProxyAnswer, then the kind's own mapping), and
 * counts every call in `rt_proxy_duration_seconds` and `rt_proxy_results_total`. Never rejects and
 * never waits longer than the timeout: whatever goes wrong is a failure outcome (a temporary 100,
 * or 108 for an RPC nobody serves), logged at most once per kind and failure every 5 s with the
 * subject (never the bodies: they hold sessions and user data).
 */
export class ProxyCaller {
  private readonly logs: LogLimiter;

  /** `timeoutMs`: PROXY_TIMEOUT. */
  constructor(private readonly requester: ProxyRequester, private readonly metrics: ProxyMetrics, private readonly log: Logger, readonly timeoutMs: number, logEveryMs = 5000) {
    this.logs = new LogLimiter(logEveryMs);
  }

  /** Asks `subject` (a `kind` request) with `body`; a result answer becomes `map(result)` (which throws UnusableAnswer for one it cannot use). */
  async call<K extends proxy.ProxyName, T>(kind: K, subject: string, body: object, map: (result: proxy.ProxyResults[K]) => T): Promise<ProxyOutcome<T>> {
    const start = performance.now();
    let msg: Msg;
    try {
      msg = await this.requester.request(subject, JSON.stringify(body), this.timeoutMs);
    } catch (err) {
      const failure: ProxyFailure = err instanceof errors.NoRespondersError ? "no_responders" : err instanceof errors.TimeoutError ? "timeout" : "unavailable";
      return this.failed(kind, subject, failure, start, failure === "unavailable" ? { error: (err as Error).message } : {});
    }
    let outcome: ProxyOutcome<T>;
    try {
      outcome = this.decide(kind, msg, map);
    } catch (err) {
      if (err instanceof Malformed) return this.failed(kind, subject, "malformed", start, { problems: err.problems.slice(0, LOGGED_ERRORS) });
      const problem = err instanceof UnusableAnswer ? { path: err.path, message: err.message } : { path: "", message: String(err) };
      return this.failed(kind, subject, "malformed", start, { problems: [problem] });
    }
    this.metrics.observe(kind, outcome.kind === "result" ? "ok" : outcome.kind, secondsSince(start));
    return outcome;
  }

  /** The checked answer as an outcome; throws Malformed or UnusableAnswer. */
  private decide<K extends proxy.ProxyName, T>(kind: K, msg: Msg, map: (result: proxy.ProxyResults[K]) => T): ProxyOutcome<T> {
    if (msg.headers?.hasError) throw new Malformed([{ path: "", message: `a NATS status ${msg.headers.code} instead of an answer` }]);
    if (msg.data.byteLength === 0) throw new Malformed([{ path: "", message: "empty" }]);
    if (msg.data.byteLength > proxy.MAX_PROXY_ANSWER_BYTES) throw new Malformed([{ path: "", message: `larger than ${proxy.MAX_PROXY_ANSWER_BYTES} bytes` }]);
    let value: unknown;
    try {
      value = JSON.parse(utf8.decode(msg.data));
    } catch {
      throw new Malformed([{ path: "", message: "not UTF-8 JSON" }]);
    }
    if (!depthWithin(value, MAX_ANSWER_DEPTH)) throw new Malformed([{ path: "", message: `nested deeper than ${MAX_ANSWER_DEPTH} levels` }]);
    const checked = proxy.checkProxyAnswer(kind, value);
    if (!checked.ok) throw new Malformed(checked.errors);
    const answer = checked.value;
    if ("error" in answer) return { kind: "error", error: { code: answer.error.code, message: answer.error.message ?? "", temporary: answer.error.temporary ?? false } };
    if ("disconnect" in answer) return { kind: "disconnect", disconnect: { code: answer.disconnect.code, reason: answer.disconnect.reason ?? "" } };
    return { kind: "result", result: map(answer.result) };
  }

  private failed<T>(kind: proxy.ProxyName, subject: string, failure: ProxyFailure, start: number, fields: Record<string, unknown>): ProxyOutcome<T> {
    const seconds = secondsSince(start);
    this.metrics.observe(kind, failure, seconds);
    this.logs.warn(this.log, { proxy: kind, subject, failure, ms: Math.round(seconds * 1000), ...fields }, FAILURE_MESSAGES[failure], `${kind}:${failure}`);
    return { kind: "error", error: failureError(failure, kind === "rpc"), failure };
  }
}

const FAILURE_MESSAGES: Record<ProxyFailure, string> = {
  timeout: "no backend answered within PROXY_TIMEOUT: the client got a temporary error 100",
  no_responders: "no backend serves this subject: the client got an error at once (108 for rpc, else a temporary 100)",
  malformed: "a backend's answer is malformed (docs/proxy.md): the client got a temporary error 100",
  unavailable: "NATS is not reachable from this gateway: the client got a temporary error 100",
};
