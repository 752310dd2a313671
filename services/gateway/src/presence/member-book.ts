/** A member of a channel as presence reports it (`info`: its channel info, `connInfo`: its connection info, when it has them). */
export interface Member {
  client: string;
  user: string;
  info?: unknown;
  connInfo?: unknown;
}

/** What changed in a channel's membership: members to announce as joined, and as left. */
export interface MembershipChange {
  joined: Member[];
  left: Member[];
}

const none = (): MembershipChange => ({ joined: [], left: [] });

/** A member as an answer or an event carries it: `[client, user]`, `[client, user, info]`, or `[client, user, info | null, connInfo]`. */
export type MemberTuple = readonly [string, string] | readonly [string, string, unknown] | readonly [string, string, unknown, unknown];

/** A member from its tuple. */
export function memberOf(t: MemberTuple): Member {
  if (t.length === 2) return { client: t[0], user: t[1] };
  if (t.length === 3) return { client: t[0], user: t[1], info: t[2] };
  return t[2] === null ? { client: t[0], user: t[1], connInfo: t[3] } : { client: t[0], user: t[1], info: t[2], connInfo: t[3] };
}

/** A member as a tuple. */
export function tupleOf(m: Member): MemberTuple {
  if (m.connInfo !== undefined) return [m.client, m.user, m.info ?? null, m.connInfo];
  return m.info === undefined ? [m.client, m.user] : [m.client, m.user, m.info];
}

/** A member as the protocol's ClientInfo (presence answers, joins and leaves). */
export function clientInfoOf(m: Member): { user: string; client: string; conn_info?: unknown; chan_info?: unknown } {
  const info: { user: string; client: string; conn_info?: unknown; chan_info?: unknown } = { user: m.user, client: m.client };
  if (m.connInfo !== undefined) info.conn_info = m.connInfo;
  if (m.info !== undefined) info.chan_info = m.info;
  return info;
}

/**
 * The members other gateways have in one channel, per gateway, for a channel with join/leave
 * subscribers here: kept from their join and leave events and from snapshots (their answers to a
 * presence question), so that the members of a gateway that is gone can be announced as left, and
 * what a gateway's events missed (a link that dropped) is announced once its snapshot comes.
 */
export class MemberBook {
  private readonly byGateway = new Map<string, Map<string, Member>>();

  /** A join or leave event of `gateway`: true when it changed the book (so it is news). */
  apply(gateway: string, kind: "join" | "leave", m: Member): boolean {
    let members = this.byGateway.get(gateway);
    if (kind === "join") {
      if (!members) this.byGateway.set(gateway, (members = new Map()));
      if (members.get(m.client)?.user === m.user) return false;
      members.set(m.client, m);
      return true;
    }
    if (!members?.delete(m.client)) return false;
    if (members.size === 0) this.byGateway.delete(gateway);
    return true;
  }

  /**
   * `gateway`'s members are its snapshot (`members`, as tuples) with the events it published since
   * the snapshot was asked for (`since`, in order) applied on top: what that changed. An event older
   * than the snapshot changes nothing when applied again (its join is in it, its leave already out of
   * it), so every event received while the question was out may be given, whichever came first.
   */
  replace(gateway: string, members: Iterable<MemberTuple>, since: ReadonlyArray<{ kind: "join" | "leave"; m: Member }> = []): MembershipChange {
    const before = this.byGateway.get(gateway) ?? new Map<string, Member>();
    const after = new Map<string, Member>();
    for (const t of members) after.set(t[0], memberOf(t));
    for (const e of since) {
      if (e.kind === "join") after.set(e.m.client, e.m);
      else after.delete(e.m.client);
    }
    const change = none();
    for (const [client, m] of after) if (before.get(client)?.user !== m.user) change.joined.push(m);
    for (const [client, m] of before) if (after.get(client)?.user !== m.user) change.left.push(m);
    if (after.size > 0) this.byGateway.set(gateway, after);
    else this.byGateway.delete(gateway);
    return change;
  }

  /** `gateway` is gone: its members, now left. */
  drop(gateway: string): Member[] {
    const members = this.byGateway.get(gateway);
    this.byGateway.delete(gateway);
    return members ? [...members.values()] : [];
  }

  /** The gateways with members here. */
  gateways(): string[] {
    return [...this.byGateway.keys()];
  }

  /** Members across every gateway. */
  get size(): number {
    let n = 0;
    for (const m of this.byGateway.values()) n += m.size;
    return n;
  }
}
