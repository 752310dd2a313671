import { SignJWT } from "jose";
import { isUserId } from "@rt/protocol";
import { json, type Logger } from "@rt/runtime";
import type { Authenticator } from "../auth.ts";
import type { GatewayConfig } from "../config.ts";

/** How long a demo token is good for (the page's SDK asks for a new one before it runs out). */
export const DEMO_TOKEN_TTL_SEC = 600;
/** How long a test notification waits for the notifier. */
const NOTIFY_TIMEOUT_MS = 5000;

/** What the demo endpoints need. */
export interface DemoDeps {
  jwt: GatewayConfig["jwt"];
  auth: Authenticator;
  /** The notifier's HTTP API (DEMO_NOTIFIER_URL, DEMO_NOTIFIER_TOKEN). */
  notifier: NonNullable<GatewayConfig["demoNotifier"]>;
  log: Logger;
}

/**
 * The development-only endpoints, served only with DEMO_PAGE=1 (never in compose or production):
 * `GET /demo/token?user=<id>` signs a token for any user with JWT_SECRET (that is the point of a
 * demo, and why it must stay off anywhere real), and `POST /demo/notify` sends the bearer of a
 * valid token a test notification through the notifier's HTTP API (`POST /notifications` at
 * DEMO_NOTIFIER_URL: the gateway's NATS user may not send `notifier.send`). Undefined for any
 * other path.
 */
export async function demoRoute(req: Request, url: URL, d: DemoDeps): Promise<Response | undefined> {
  switch (url.pathname) {
    case "/demo/token":
      if (req.method !== "GET") return json(405, { error: "use GET" }, { allow: "GET" });
      return token(url, d);
    case "/demo/notify":
      if (req.method !== "POST") return json(405, { error: "use POST" }, { allow: "POST" });
      return notify(req, url, d);
    default:
      return undefined;
  }
}

async function token(url: URL, d: DemoDeps): Promise<Response> {
  const user = url.searchParams.get("user") ?? "demo";
  if (!isUserId(user)) return json(400, { error: "user must be 1 to 256 characters, no control characters" });
  if (!d.jwt.secret) return json(503, { error: "the demo signs tokens with JWT_SECRET, which is not set (JWKS-only gateways cannot mint tokens)" });
  let jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(user).setIssuedAt().setExpirationTime(`${DEMO_TOKEN_TTL_SEC}s`);
  if (d.jwt.issuer) jwt = jwt.setIssuer(d.jwt.issuer);
  if (d.jwt.audience) jwt = jwt.setAudience(d.jwt.audience);
  return json(200, { user, token: await jwt.sign(d.jwt.secret), expires_in: DEMO_TOKEN_TTL_SEC }, { "cache-control": "no-store" });
}

async function notify(req: Request, url: URL, d: DemoDeps): Promise<Response> {
  const who = await d.auth.authenticate(req, url);
  if (!who) return json(401, { error: "a valid bearer token is required (GET /demo/token)" });
  const request = { user_id: who.userId, body: `Test notification, sent at ${new Date().toISOString()}`, data: { kind: "demo-test" } };
  const endpoint = notificationsUrl(d.notifier.url);
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", ...(d.notifier.token !== undefined ? { authorization: `Bearer ${d.notifier.token}` } : {}) },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
    });
  } catch (err) {
    d.log.warn({ err: String(err), url: endpoint }, "demo: the notifier did not answer");
    return json(503, { error: `the notifier did not answer at ${d.notifier.url}; is it running? (DEMO_NOTIFIER_URL)` });
  }
  const text = await res.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    d.log.warn({ status: res.status, url: endpoint }, "demo: the notifier's answer is not JSON");
    return json(502, { error: `the notifier at ${d.notifier.url} answered ${res.status} without JSON; is DEMO_NOTIFIER_URL the notifier?` });
  }
  if (res.status === 401 || res.status === 403) {
    // Not the page's token: the gateway's own to the notifier. A 401 here would send the page for a new token.
    d.log.warn({ status: res.status }, "demo: the notifier refused DEMO_NOTIFIER_TOKEN");
    return json(502, { error: "the notifier refused the gateway (set DEMO_NOTIFIER_TOKEN to one of its NOTIFIER_TOKENS)" });
  }
  return json(res.status, answer);
}

/** `<base>/notifications`, keeping a path the base may have (a notifier behind a proxy's prefix). */
export function notificationsUrl(base: string): string {
  return new URL("notifications", base.endsWith("/") ? base : `${base}/`).href;
}
