/** A member of a room as presence reports it. */
export interface Member {
  client: string;
  user: string;
}

/** What changed in a room's membership: members to announce as joined, and as left. */
export interface MembershipChange {
  joined: Member[];
  left: Member[];
}

const none = (): MembershipChange => ({ joined: [], left: [] });

/**
 * The members other gateways have in one room, per gateway, for a room with join/leave
 * subscribers here: kept from their join and leave events and from snapshots (their answers to a
 * presence question), so that the members of a gateway that is gone can be announced as left, and
 * what a gateway's events missed (a link that dropped) is announced once its snapshot comes.
 */
export class MemberBook {
  private readonly byGateway = new Map<string, Map<string, string>>();

  /** A join or leave event of `gateway`: true when it changed the book (so it is news). */
  apply(gateway: string, kind: "join" | "leave", m: Member): boolean {
    let members = this.byGateway.get(gateway);
    if (kind === "join") {
      if (!members) this.byGateway.set(gateway, (members = new Map()));
      if (members.get(m.client) === m.user) return false;
      members.set(m.client, m.user);
      return true;
    }
    if (!members?.delete(m.client)) return false;
    if (members.size === 0) this.byGateway.delete(gateway);
    return true;
  }

  /** `gateway`'s members are exactly `members` now (its snapshot): what that changed. */
  replace(gateway: string, members: Iterable<readonly [string, string]>): MembershipChange {
    const before = this.byGateway.get(gateway) ?? new Map<string, string>();
    const after = new Map(members);
    const change = none();
    for (const [client, user] of after) if (before.get(client) !== user) change.joined.push({ client, user });
    for (const [client, user] of before) if (after.get(client) !== user) change.left.push({ client, user });
    if (after.size > 0) this.byGateway.set(gateway, after);
    else this.byGateway.delete(gateway);
    return change;
  }

  /** `gateway` is gone: its members, now left. */
  drop(gateway: string): Member[] {
    const members = this.byGateway.get(gateway);
    this.byGateway.delete(gateway);
    return members ? [...members].map(([client, user]) => ({ client, user })) : [];
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
