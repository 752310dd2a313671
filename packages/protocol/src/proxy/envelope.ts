import { validator, type Checked, type FieldError, type Validator } from "../validator.ts";
import {
  ConnectResult, MAX_DISCONNECT_REASON_BYTES, ProxyDisconnect, ProxyError, PublishResult, RefreshResult, RpcResult, SubRefreshResult, SubscribeResult,
  type ConnectResult as ConnectResultT, type ProxyDisconnect as ProxyDisconnectT, type ProxyError as ProxyErrorT, type PublishResult as PublishResultT,
  type RefreshResult as RefreshResultT, type RpcResult as RpcResultT, type SubRefreshResult as SubRefreshResultT, type SubscribeResult as SubscribeResultT,
} from "./answers.ts";

/** The decisions a gateway hands to backends (`proxy.<kind>`, and `rpc.<method>` for `rpc`). */
export const PROXY_KINDS = ["connect", "refresh", "subscribe", "publish", "sub_refresh", "rpc"] as const;
export type ProxyName = (typeof PROXY_KINDS)[number];

/** The result of each kind. */
export interface ProxyResults {
  connect: ConnectResultT;
  refresh: RefreshResultT;
  subscribe: SubscribeResultT;
  publish: PublishResultT;
  sub_refresh: SubRefreshResultT;
  rpc: RpcResultT;
}

/** A backend's answer, checked: exactly one of the three. */
export type ProxyAnswer<K extends ProxyName> = { result: ProxyResults[K] } | { error: ProxyErrorT } | { disconnect: ProxyDisconnectT };

const RESULTS: { [K in ProxyName]: Validator<ProxyResults[K]> } = {
  connect: validator(ConnectResult),
  refresh: validator(RefreshResult),
  subscribe: validator(SubscribeResult),
  publish: validator(PublishResult),
  sub_refresh: validator(SubRefreshResult),
  rpc: validator(RpcResult),
};
const ERROR = validator(ProxyError);
const DISCONNECT = validator(ProxyDisconnect);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const under = (key: string, errors: FieldError[]): FieldError[] => errors.map((e) => ({ path: `/${key}${e.path}`, message: e.message }));

/**
 * Checks a backend's answer to a `kind` request (the JSON value of its body) against the schemas
 * of answers.ts, as `<Kind>Answer` would, but naming the problem inside the part that was sent
 * (`/result/expire_at: must be integer`) rather than "matches none of three".
 */
export function checkProxyAnswer<K extends ProxyName>(kind: K, value: unknown): Checked<ProxyAnswer<K>> {
  if (!isObject(value)) return { ok: false, errors: [{ path: "", message: "must be an object" }] };
  const keys = Object.keys(value);
  const key = keys[0];
  if (keys.length !== 1 || (key !== "result" && key !== "error" && key !== "disconnect")) {
    return { ok: false, errors: [{ path: "", message: `must have exactly one of result, error, disconnect (has ${keys.length === 0 ? "none" : keys.slice(0, 5).join(", ")})` }] };
  }
  const part = value[key];
  const checked = key === "result" ? RESULTS[kind].validate(part) : key === "error" ? ERROR.validate(part) : DISCONNECT.validate(part);
  if (!checked.ok) return { ok: false, errors: under(key, checked.errors) };
  if (key === "disconnect" && Buffer.byteLength((checked.value as ProxyDisconnectT).reason ?? "") > MAX_DISCONNECT_REASON_BYTES) {
    return { ok: false, errors: [{ path: "/disconnect/reason", message: `must be at most ${MAX_DISCONNECT_REASON_BYTES} bytes of UTF-8` }] };
  }
  return { ok: true, value: { [key]: checked.value } as ProxyAnswer<K> };
}
