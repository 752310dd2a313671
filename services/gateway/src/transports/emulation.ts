import type { Msg } from "@nats-io/transport-node";
import { REPLY_PREFIX, emulationAnswer, emulationForward, gatewayEmulationSubject, type EmulationAnswer } from "@rt/protocol";
import type { Logger, ReplyGuard } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import { readJson } from "../cluster/gather.ts";
import type { EncodingName } from "../protocols/centrifugo/push.ts";
import { BrokerRequests } from "./broker-requests.ts";
import { parseEmulationBody, isProtobufBody } from "./emulation-request.ts";
import { corsHeaders, isRefusal, methodRefusal, originRefusal, preflight, readBody, refusalResponse, type Admission, type Refusal } from "./http-checks.ts";
import { SessionQueue } from "./session-queue.ts";

/** A session of this gateway that takes commands through `/emulation` (an http_stream or sse connection). */
export interface EmulatedSession {
  /** Its encoding: a request in the other one is refused (400). */
  readonly encoding: EncodingName;
  /**
   * Takes the commands of one emulation request, as one WebSocket frame of its encoding carries
   * them (JSON text, one command per line; Protobuf bytes, length-delimited); resolves true once
   * they are in its command loop, in order, false when the session is gone. Their replies go on
   * its stream. Never called again before the promise of the call before it settled.
   */
  deliver(data: string | Uint8Array): Promise<boolean> | boolean;
}

/** This gateway's emulated sessions by secret (SessionSecrets fits). */
export interface SessionDirectory {
  /** The live session whose secret is `session`, or undefined (a client id is never one). */
  find(session: string): EmulatedSession | undefined;
}

/** What became of one emulation request: an EmulationAnswer's outcome, or the owning gateway out of reach (`unavailable`) or silent (`timeout`). */
export type EmulationOutcome = EmulationAnswer["outcome"] | "unavailable" | "timeout";

/** How each outcome is answered over HTTP (docs/transports.md). centrifuge-js closes its transport and reconnects on 404 and 5xx. */
export const OUTCOME_STATUS: Readonly<Record<EmulationOutcome, { status: number; error?: string }>> = {
  delivered: { status: 204 },
  gone: { status: 404, error: "session not found" },
  bad_request: { status: 400, error: "the data does not fit the session's encoding" },
  busy: { status: 429, error: "too many requests waiting for this session" },
  unavailable: { status: 503, error: "the session's gateway cannot be reached" },
  timeout: { status: 504, error: "the session's gateway did not answer in time" },
};

/** What the router needs. */
export interface EmulationRouterOptions {
  /** This gateway's id: the connect result's `node` of its sessions. */
  gatewayId: string;
  broker: Broker;
  sessions: SessionDirectory;
  replies: ReplyGuard;
  log: Logger;
  /** ALLOWED_ORIGINS, as for every transport. */
  admission: Pick<Admission, "allowedOrigins">;
  /** MAX_MESSAGE_BYTES: the largest body taken (413 beyond). */
  maxBodyBytes: number;
  /** How long a request waits for its session to take the commands (here or on another gateway). */
  timeoutMs?: number;
  /** Requests that may wait per session before the next is refused (429). */
  maxPendingPerSession?: number;
  /** Counts a refused request or NATS message by reason (Rejections.count). */
  rejected?: (reason: string) => void;
}

export const EMULATION_TIMEOUT_MS = 10_000;
export const EMULATION_MAX_PENDING = 64;
/** The largest forwarded request read from NATS: the base64 of a body of MAX_MESSAGE_BYTES and its envelope. */
const forwardBytes = (maxBodyBytes: number): number => Math.ceil(maxBodyBytes / 3) * 4 + 1024;

const METHODS = ["POST"] as const;

/**
 * `POST /emulation`: the commands an HTTP-streaming or SSE client sends after its connect, each
 * request `{node, session, data}`. Whichever gateway the load balancer picked takes it:
 * - the session is here (`node` is this gateway): its commands go to it;
 * - else they go over NATS to `gateway.emulation.<node>` (gateways only may publish or subscribe
 *   there, as the requests carry session secrets), answered under `_INBOX_gateway.emu.` once the
 *   owning gateway's session took them.
 * The answer comes once the session took the commands: 204; 404 when there is no such session
 * (gone, guessed, or a client id) or no such gateway. A session's requests are handed to it one at
 * a time, in the order they arrived (SessionQueue).
 */
export class EmulationRouter {
  private readonly requests: BrokerRequests;
  private readonly queue: SessionQueue<EmulatedSession>;
  private readonly subject: string;
  private readonly timeoutMs: number;

  constructor(private readonly o: EmulationRouterOptions) {
    this.requests = new BrokerRequests(o.broker, REPLY_PREFIX.emulation);
    this.queue = new SessionQueue(o.maxPendingPerSession ?? EMULATION_MAX_PENDING);
    this.subject = gatewayEmulationSubject(o.gatewayId);
    this.timeoutMs = o.timeoutMs ?? EMULATION_TIMEOUT_MS;
  }

  /** Serves this gateway's subject and holds the reply subscription (at once, or at the first connect). */
  start(): void {
    this.o.broker.acquire(this.subject, (msg) => this.onForward(msg));
    this.requests.start();
  }

  stop(): void {
    this.o.broker.release(this.subject);
    this.requests.stop();
  }

  /** Sessions with emulation requests waiting or running here. */
  get busySessions(): number {
    return this.queue.size;
  }

  /** Emulation requests waiting for or running in their session here. */
  get pendingRequests(): number {
    return this.queue.waiting;
  }

  /** Answers one request to `/emulation` (its preflight included); never throws. */
  async handle(req: Request): Promise<Response> {
    try {
      if (req.method === "OPTIONS") return preflight(req, this.o.admission, METHODS);
      const cors = corsHeaders(req, this.o.admission);
      const refused = methodRefusal(req, METHODS) ?? originRefusal(req, this.o.admission);
      if (refused) return this.refuse(refused, cors);
      const body = await readBody(req, this.o.maxBodyBytes);
      if (isRefusal(body)) return this.refuse(body, cors);
      const call = parseEmulationBody(body, isProtobufBody(req));
      if (isRefusal(call)) return this.refuse(call, cors);
      const outcome = call.node === this.o.gatewayId ? await this.withTimeout(this.deliver(call.session, call.encoding, call.data)) : await this.forward(call.node, call.session, call.encoding, call.data);
      if (outcome !== "delivered") this.o.rejected?.(`emulation_${outcome}`);
      const { status, error } = OUTCOME_STATUS[outcome];
      return error === undefined ? new Response(null, { status, headers: cors }) : Response.json({ error }, { status, headers: cors });
    } catch (err) {
      this.o.log.error({ err }, "emulation request failed");
      return Response.json({ error: "internal error" }, { status: 500 });
    }
  }

  /**
   * Hands `data` to the session of this gateway whose secret is `session`, after its earlier
   * requests. Synchronous up to the queueing, so requests keep the order of the calls.
   */
  deliver(session: string, encoding: EncodingName, data: string | Uint8Array): Promise<EmulationOutcome> {
    const s = this.o.sessions.find(session);
    if (!s) return Promise.resolve("gone");
    if (s.encoding !== encoding) return Promise.resolve("bad_request");
    const run = this.queue.run(s, async (): Promise<EmulationOutcome> => {
      try {
        return (await s.deliver(data)) ? "delivered" : "gone";
      } catch (err) {
        this.o.log.error({ err }, "an emulated session failed to take commands");
        return "gone";
      }
    });
    return run ?? Promise.resolve("busy");
  }

  /** Hands the request to gateway `node` over NATS and waits for its outcome. */
  private async forward(node: string, session: string, encoding: EncodingName, data: string | Uint8Array): Promise<EmulationOutcome> {
    const payload = JSON.stringify({ session, encoding, data: typeof data === "string" ? data : Buffer.from(data).toString("base64") });
    const answer = await this.requests.request(gatewayEmulationSubject(node), payload, this.timeoutMs);
    if (answer === "no_responders") return "gone"; // no such gateway (stopped, restarted, or never was)
    if (answer === "timeout" || answer === "unavailable") return answer;
    const a = readJson(answer, 1024);
    if (emulationAnswer.check(a)) return a.outcome;
    this.o.rejected?.("nats_emulation_payload");
    return "unavailable";
  }

  /** Another gateway's request for a session of this one: delivered, then answered with the outcome. */
  private onForward(msg: Msg): void {
    if (!this.o.replies.allows("gateway.emulation", msg.subject, msg.reply)) return;
    const reply = msg.reply;
    const f = readJson(msg, forwardBytes(this.o.maxBodyBytes));
    if (!reply || !emulationForward.check(f)) {
      this.o.rejected?.("nats_emulation_payload");
      if (reply) this.answer(reply, "bad_request");
      return;
    }
    const data = f.encoding === "json" ? f.data : new Uint8Array(Buffer.from(f.data, "base64"));
    void this.deliver(f.session, f.encoding, data).then((outcome) => this.answer(reply, outcome === "timeout" || outcome === "unavailable" ? "gone" : outcome));
  }

  private answer(reply: string, outcome: EmulationAnswer["outcome"]): void {
    this.o.broker.publish(reply, JSON.stringify({ outcome } satisfies EmulationAnswer));
  }

  private withTimeout(p: Promise<EmulationOutcome>): Promise<EmulationOutcome> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<EmulationOutcome>((resolve) => (timer = setTimeout(() => resolve("timeout"), this.timeoutMs)));
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  private refuse(r: Refusal, headers: Record<string, string>): Response {
    this.o.rejected?.(r.reason);
    return refusalResponse(r, headers);
  }
}
