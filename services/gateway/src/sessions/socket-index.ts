import type { GatewaySocket } from "../protocols/socket-data.ts";

/**
 * The sockets of this gateway by user (the token's `sub`; "" for every socket without one:
 * anonymous connections, `/chat/` and monitor sockets, protocol connections not connected yet) and
 * by client id, for the server API's `unsubscribe`, `disconnect`, `subscribe`, `refresh` and the
 * `info` count of users.
 */
export class SocketIndex {
  private readonly byUser = new Map<string, Set<GatewaySocket>>();
  private readonly byClient = new Map<string, GatewaySocket>();
  /** The user each socket is indexed under (a protocol connection is added at open, as "", and again once connected). */
  private readonly userOfSocket = new Map<GatewaySocket, string>();

  /** `ws` belongs to `user` ("" when anonymous) and, when it has one, is known by `client`. */
  add(ws: GatewaySocket, user: string, client: string | undefined): void {
    const before = this.userOfSocket.get(ws);
    if (before !== undefined && before !== user) this.unindex(ws, before);
    this.userOfSocket.set(ws, user);
    let set = this.byUser.get(user);
    if (!set) this.byUser.set(user, (set = new Set()));
    set.add(ws);
    if (client !== undefined) this.byClient.set(client, ws);
  }

  /** `ws` closed. */
  delete(ws: GatewaySocket, user: string, client: string | undefined): void {
    this.unindex(ws, this.userOfSocket.get(ws) ?? user);
    this.userOfSocket.delete(ws);
    if (client !== undefined && this.byClient.get(client) === ws) this.byClient.delete(client);
  }

  private unindex(ws: GatewaySocket, user: string): void {
    const set = this.byUser.get(user);
    if (set?.delete(ws) && set.size === 0) this.byUser.delete(user);
  }

  /** The sockets a server API call names: every one of `user`, or the one `client` when it is `user`'s ("" for anonymous ones). */
  find(user: string, client: string | undefined): GatewaySocket[] {
    if (client !== undefined) {
      const ws = this.byClient.get(client);
      return ws && userOf(ws) === user ? [ws] : [];
    }
    return user === "" ? [] : [...(this.byUser.get(user) ?? [])];
  }

  /**
   * Distinct users with a socket here, as presence_stats counts them: every socket without a user
   * (anonymous connections, `/chat/` sockets) is user "", one user however many (Centrifugo's count).
   */
  get users(): number {
    return this.byUser.size;
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
