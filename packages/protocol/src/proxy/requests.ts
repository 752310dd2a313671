import Type, { type Static } from "typebox";
import { B64_PATTERN } from "../centrifugo/subscription-token.ts";

/**
 * What a gateway asks a backend (docs/proxy.md): one JSON body per request, with the field names
 * of Centrifugo's proxy requests, so a backend written for Centrifugo's HTTP proxy reads them as
 * they are. Empty optional fields are left out.
 */

/** Longest header value, name, version, channel, method, user... (all bounded by the client protocol already). */
const Text = (maxLength: number, description: string) => Type.String({ maxLength, description });

/** The fields every request carries: which connection asks, over what. */
const common = {
  client: Text(64, "The connection's client id (the `client` of its connect result)."),
  transport: Text(32, "How the connection reaches the gateway: `websocket` (and, as they come, `http_stream`, `sse`, `uni_websocket`, ...)."),
  protocol: Type.Union([Type.Literal("json"), Type.Literal("protobuf")], { description: "The client protocol's encoding on the connection." }),
  encoding: Type.Union([Type.Literal("json"), Type.Literal("binary")], { description: "How `data` travels here: `json` (`data` is the JSON value itself), or `binary` (`b64data`, base64). The gateway carries JSON values, so today always `json`." }),
};
/** A connection's user ("" when anonymous). */
const user = Text(256, "The connection's user (\"\" when anonymous).");
/** `meta` the connect proxy attached to the connection, sent back with every later request of it. */
const meta = Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "What the connect proxy's answer set as `meta` (never shown to clients); left out when it set none." }));
const data = Type.Optional(Type.Unknown({ description: "The client's data, a JSON value (left out when it sent none)." }));
const b64data = Type.Optional(Type.String({ pattern: B64_PATTERN, description: "The client's data as base64, in place of `data` when the encoding is `binary`." }));
const channel = Text(512, "The channel.");

/** `proxy.connect`: a client connects without a token (PROXY_CONNECT=1). */
export const ConnectRequest = Type.Object({
  ...common,
  name: Type.Optional(Text(256, "The SDK's name, when it sent one (`js`).")),
  version: Type.Optional(Text(256, "The SDK's version, when it sent one.")),
  data,
  b64data,
  headers: Type.Record(Type.String(), Type.String(), {
    description: "The upgrade request's headers named in PROXY_HTTP_HEADERS, by lower-case name (`cookie`, `authorization`, `x-real-ip`), those it had only; `{}` when none.",
  }),
  remote_addr: Text(64, "The client's address as the gateway sees it (the peer's IP: a proxy's, behind one; \"\" when unknown)."),
});
export type ConnectRequest = Static<typeof ConnectRequest>;

/** `proxy.refresh`: a connection whose connect answer set `expire_at` is about to expire (PROXY_REFRESH=1). */
export const RefreshRequest = Type.Object({ ...common, user, meta });
export type RefreshRequest = Static<typeof RefreshRequest>;

/** `proxy.subscribe`: a client subscribes to a channel of a namespace with `subscribe_proxy_enabled`. */
export const SubscribeRequest = Type.Object({ ...common, user, channel, data, b64data, meta });
export type SubscribeRequest = Static<typeof SubscribeRequest>;

/** `proxy.publish`: a client publishes into a channel of a namespace with `publish_proxy_enabled`. */
export const PublishRequest = Type.Object({ ...common, user, channel, data, b64data, meta });
export type PublishRequest = Static<typeof PublishRequest>;

/** `proxy.sub_refresh`: a subscription whose subscribe answer set `expire_at`, in a namespace with `sub_refresh_proxy_enabled`, is about to expire. */
export const SubRefreshRequest = Type.Object({ ...common, user, channel, meta });
export type SubRefreshRequest = Static<typeof SubRefreshRequest>;

/** `rpc.<method>`: a client's `rpc` command. */
export const RpcRequest = Type.Object({ ...common, user, method: Text(64, "The RPC method (also the subject's last token)."), data, b64data, meta });
export type RpcRequest = Static<typeof RpcRequest>;
