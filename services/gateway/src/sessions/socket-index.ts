import type { GatewaySocket } from "../protocols/socket-data.ts";

/**
 * The sockets of this gateway by user (the token's `sub`; anonymous ones are not indexed) and by
 * client id, for the server API's `unsubscribe` and `disconnect`.
 */
export class SocketIndex {
  private readonly byUser = new Map<string, Set<GatewaySocket>>();
  private readonly byClient = new Map<string, GatewaySocket>();

  /** `ws` belongs to `user` ("" when anonymous) and, when it has one, is known by `client`. */
  add(ws: GatewaySocket, user: string, client: string | undefined): void {
    if (user !== "") {
      let set = this.byUser.get(user);
      if (!set) this.byUser.set(user, (set = new Set()));
      set.add(ws);
    }
    if (client !== undefined) this.byClient.set(client, ws);
  }

  /** `ws` closed. */
  delete(ws: GatewaySocket, user: string, client: string | undefined): void {
    const set = this.byUser.get(user);
    if (set?.delete(ws) && set.size === 0) this.byUser.delete(user);
    if (client !== undefined && this.byClient.get(client) === ws) this.byClient.delete(client);
  }

  /** The sockets a server API call names: every one of `user`, or the one `client` when it is `user`'s ("" for anonymous ones). */
  find(user: string, client: string | undefined): GatewaySocket[] {
    if (client !== undefined) {
      const ws = this.byClient.get(client);
      return ws && userOf(ws) === user ? [ws] : [];
    }
    return user === "" ? [] : [...(this.byUser.get(user) ?? [])];
  }

  /** Distinct users with a socket here. */
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
