import type { FieldError, NotifyAnswer } from "@rt/protocol";

/** The answer to one send, shared by HTTP (status + body) and NATS (body, with `status` on errors). */
export type Outcome = Accepted | Failed;

/** 202: stored now; 200: an idempotent repeat, answered with the first notification. */
export interface Accepted {
  status: 200 | 202;
  body: NotifyAnswer;
}

export interface Failed {
  status: 400 | 401 | 404 | 405 | 413 | 415 | 500 | 503;
  body: { errors: FieldError[] };
}

/** An error outcome with one message at `path`. */
export function failed(status: Failed["status"], message: string, path = ""): Failed {
  return { status, body: { errors: [{ path, message }] } };
}

/** 503: NATS or JetStream cannot take the notification right now; the caller should retry shortly. */
export const unavailable = (message: string): Failed => failed(503, message);

/** Seconds a caller should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 1;
