/** What the gateway knows of a connection when it asks a backend about it (every request's common fields). */
export interface ProxyConnection {
  /** Its client id. */
  client: string;
  /** How it reaches the gateway: `websocket`, and as they come `http_stream`, `sse`, `uni_websocket`, ... */
  transport: string;
  /** The client protocol's encoding on it. */
  protocol: "json" | "protobuf";
  /** Its user ("" when anonymous). */
  user: string;
  /** The connect proxy's `meta`, when its answer set one: sent back with every later request. */
  meta?: Record<string, unknown> | undefined;
}

/** `client`, `transport`, `protocol`, `encoding` (the gateway sends JSON values: always `json`). */
export function connectionFields(c: Pick<ProxyConnection, "client" | "transport" | "protocol">): { client: string; transport: string; protocol: "json" | "protobuf"; encoding: "json" } {
  return { client: c.client, transport: c.transport, protocol: c.protocol, encoding: "json" };
}

/** The common fields with `user` and, when there is one, `meta`. */
export function userFields(c: ProxyConnection): ReturnType<typeof connectionFields> & { user: string; meta?: Record<string, unknown> } {
  return { ...connectionFields(c), user: c.user, ...(c.meta === undefined ? {} : { meta: c.meta }) };
}

/** `data` when the client sent some (left out otherwise). */
export const dataField = (data: unknown): { data?: unknown } => (data === undefined ? {} : { data });
