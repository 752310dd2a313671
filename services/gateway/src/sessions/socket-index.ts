import type { ClientSession, GatewaySocket } from "../protocols/socket-data.ts";

/** What the index holds: a socket of the article's endpoints, or a client protocol session on any transport (it indexes itself). */
export type Connection = GatewaySocket | ClientSession;

/** The client protocol session of `c`, if it is one. */
export const sessionOf = (c: Connection): ClientSession | undefined => ("data" in c ? (c.data.protocol === "centrifugo" ? c.data.client : undefined) : c);

/**
 * The connections of this gateway by user (the token's `sub`; "" for every one without one:
 * anonymous connections, `/chat/` and monitor sockets, protocol connections not connected yet) and
 * by client id, for the server API's `unsubscribe`, `disconnect`, `subscribe`, `refresh` and the
 * `info` count of users. Client protocol sessions, whatever carries them, index themselves (at
 * open as "", again once connected); the server indexes the other sockets.
 */
export class SocketIndex {
  private readonly byUser = new Map<string, Set<Connection>>();
  private readonly byClient = new Map<string, Connection>();
  /** The user each connection is indexed under (a protocol connection is added at open, as "", and again once connected). */
  private readonly userOfSocket = new Map<Connection, string>();

  /** `ws` belongs to `user` ("" when anonymous) and, when it has one, is known by `client`. */
  add(ws: Connection, user: string, client: string | undefined): void {
    const before = this.userOfSocket.get(ws);
    if (before !== undefined && before !== user) this.unindex(ws, before);
    this.userOfSocket.set(ws, user);
    let set = this.byUser.get(user);
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(ws);
    if (client !== undefined) this.byClient.set(client, ws);
  }

  /** `ws` closed. */
  delete(ws: Connection, user: string, client: string | undefined): void {
    this.unindex(ws, this.userOfSocket.get(ws) ?? user);
    this.userOfSocket.delete(ws);
    if (client !== undefined && this.byClient.get(client) === ws) this.byClient.delete(client);
  }

  private unindex(ws: Connection, user: string): void {
    const set = this.byUser.get(user);
    if (set?.delete(ws) && set.size === 0) this.byUser.delete(user);
  }

  /** The connections a server API call names: every one of `user`, or the one `client` when it is `user`'s ("" for anonymous ones). */
  find(user: string, client: string | undefined): Connection[] {
    if (client !== undefined) {
      const ws = this.byClient.get(client);
      return ws && ownerOf(ws) === user ? [ws] : [];
    }
    return user === "" ? [] : [...(this.byUser.get(user) ?? [])];
  }

  /**
   * Distinct users with a connection here, as presence_stats counts them: every connection without
   * a user (anonymous connections, `/chat/` sockets) is user "", one user however many (Centrifugo's count).
   */
  get users(): number {
    return this.byUser.size;
  }

  /** Distinct users with a token here (the `rt_users` gauge): sockets without a user are not counted. */
  get identifiedUsers(): number {
    return this.byUser.size - (this.byUser.has("") ? 1 : 0);
  }
}

/** The user a socket belongs to ("" when anonymous or not yet known). */
export function userOf(ws: GatewaySocket): string {
  switch (ws.data.protocol) {
    case "notifications":
      return ws.data.userId;
    case "centrifugo":
      return ws.data.client.user ?? "";
    default:
      return "";
  }
}

/** The client id a socket is known by (`/chat/` sockets and protocol clients), if any. */
export function clientIdOf(ws: GatewaySocket): string | undefined {
  switch (ws.data.protocol) {
    case "room":
      return ws.data.info.client;
    case "centrifugo":
      return ws.data.client.id;
    default:
      return undefined;
  }
}

/** The user of an indexed connection. */
const ownerOf = (c: Connection): string => ("data" in c ? userOf(c) : (c.user ?? ""));
