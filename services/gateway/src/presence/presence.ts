import type { Msg } from "@nats-io/transport-node";
import {
  MAX_PRESENCE_CHANGES, PRESENCE_CHANNEL_QUERY_WILDCARD, PRESENCE_QUERY_WILDCARD, channelFromPresenceSubject, presenceAnswer, presenceEvent, presenceEventSubject, presenceQuery, presenceQuerySubject,
  type PresenceAnswer, type PresenceQuery,
} from "@rt/protocol";
import type { Logger, ReplyGuard } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import type { GatewayRegistry } from "../cluster/gateways.ts";
import { noneYet, type PerEncoding, type PushEncoding } from "../protocols/centrifugo/push.ts";
import type { Rejections } from "../rejections.ts";
import { ClusterUnavailableError, answerInParts, askEveryGateway, readJson } from "../cluster/gather.ts";
import { split, textBytes } from "../cluster/parts.ts";
import { MemberBook, clientInfoOf, memberOf, tupleOf, type Member, type MemberTuple } from "./member-book.ts";
import type { TopicPublisher } from "../channels/sink.ts";

/** A member's bytes in an answer: `["client","user"],` with room for escapes (and its channel and connection info). */
const memberBytes = (m: MemberTuple): number => m[0].length + 2 * m[1].length + 8 + (m.length >= 3 ? 2 * (JSON.stringify(m[2])?.length ?? 4) : 0) + (m.length === 4 ? 2 * (JSON.stringify(m[3])?.length ?? 4) : 0);

/** A channel with join/leave subscribers on this gateway. */
interface Watched {
  channel: string;
  subscribers: PerEncoding;
  /** Resolves once NATS has this gateway's subscription to the channel's joins and leaves (every join published after it reaches this gateway). */
  ready: Promise<void>;
  /** The other gateways' members, so their joins, leaves and deaths can be told. */
  book: MemberBook;
  /** False until the first snapshot: the members there before are not announced as joining. */
  loaded: boolean;
  /**
   * Events received while a snapshot is being asked for (undefined: none is), by gateway, in order:
   * applied on top of the snapshot, which may have been taken before them though it arrives after.
   */
  since: Map<string, Array<{ kind: "join" | "leave"; m: Member }>> | undefined;
  /** Another reconcile was asked for while one was running: run it once more after. */
  again: boolean;
}

/** A member of this gateway: its user, its channel and connection info, whether presence lists it, and whether its joins and leaves are published (the namespace's `join_leave`). */
interface LocalMember {
  user: string;
  info: unknown;
  connInfo: unknown;
  listed: boolean;
  emit: boolean;
}

/** How a member takes part: listed by presence (`presence`), its joins and leaves told (`join_leave`), its channel info, and its connection's info. */
export interface Membership {
  listed: boolean;
  emit: boolean;
  info?: unknown;
  connInfo?: unknown;
}

/** A local member as presence reports it. */
const memberHere = (client: string, m: LocalMember): Member => {
  const out: Member = { client, user: m.user };
  if (m.info !== undefined) out.info = m.info;
  if (m.connInfo !== undefined) out.connInfo = m.connInfo;
  return out;
};

/**
 * Who is in each channel, across gateways, without shared state: each gateway knows its own
 * members (`/chat/{room}` sockets and protocol subscribers of channels whose namespace keeps
 * presence) and answers presence questions on `presence.query.<room>` (`chat:<room>`) or
 * `presence.query.<ns>.<channel>`; a `presence` call asks every live gateway (GatewayRegistry) and
 * merges the answers with its own members. Joins and leaves (of members whose namespace has
 * `join_leave`) are published on `presence.event.…` and pushed (serialized once per encoding) to
 * the join/leave subscribers of every gateway; for channels with such subscribers a gateway keeps
 * the others' members (MemberBook) so that a gateway that dies has its members announced as left
 * once it is known gone (15 s), and what a dropped link hid is reconciled from a snapshot when it
 * comes back.
 */
export class Presence {
  /** This gateway's members: channel → client → member. */
  private readonly local = new Map<string, Map<string, LocalMember>>();
  private readonly watched = new Map<string, Watched>();
  /** Changes of this turn not yet published, per channel (one message per channel per turn). */
  private readonly outgoing = new Map<string, Array<["join" | "leave", ...MemberTuple]>>();
  private flushScheduled = false;

  constructor(
    private readonly server: () => TopicPublisher,
    private readonly broker: Broker,
    private readonly registry: GatewayRegistry,
    private readonly encodings: readonly PushEncoding[],
    private readonly rejections: Rejections,
    /** Which reply subjects a presence question may name (gateways' gathers). */
    private readonly replies: ReplyGuard,
    private readonly log: Logger,
    /** Told the size of every topic publish (the sweeper's trigger). */
    private readonly published: (bytes: number) => void,
  ) {}

  /** Answers the presence questions of other gateways; follows gateways that come, come back and go. */
  start(): void {
    this.broker.acquire(PRESENCE_QUERY_WILDCARD, (msg) => this.answer(msg));
    this.broker.acquire(PRESENCE_CHANNEL_QUERY_WILDCARD, (msg) => this.answer(msg));
    this.registry.onGone((gateway) => {
      for (const w of this.watched.values()) this.announce(w, "leave", w.book.drop(gateway));
    });
    this.registry.onChanged(() => this.reconcileAll());
    this.broker.onUp(() => this.reconcileAll());
  }

  /**
   * `client` of `user` is a member of `channel` here now: listed by `presence` when `m.listed`; with
   * `m.emit`, its join (and later its leave) is told to the join/leave subscribers of every gateway.
   */
  add(channel: string, client: string, user: string, m: Membership): void {
    let members = this.local.get(channel);
    if (!members) this.local.set(channel, (members = new Map()));
    const member: LocalMember = { user, info: m.info, connInfo: m.connInfo, listed: m.listed, emit: m.emit };
    members.set(client, member);
    if (m.emit) this.changed(channel, "join", memberHere(client, member));
  }

  /** `client` is no longer a member of `channel`. */
  remove(channel: string, client: string): void {
    const members = this.local.get(channel);
    const m = members?.get(client);
    if (m === undefined) return;
    members!.delete(client);
    if (members!.size === 0) this.local.delete(channel);
    if (m.emit) this.changed(channel, "leave", memberHere(client, m));
  }

  /**
   * A join/leave subscriber of `channel` here, from its subscribe on (before its reply: joins of
   * that moment are not its to see, joins after it must all reach it). Resolves once NATS has this
   * gateway's subscription to the channel's joins and leaves: a join another gateway publishes after
   * that is told, so the subscribe reply waits for it (one round trip, for a channel's first
   * join/leave subscriber here). Undone by `unwatch`.
   */
  watch(channel: string, enc: PushEncoding): Promise<void> {
    let w = this.watched.get(channel);
    if (!w) {
      const acquired = channel;
      this.broker.acquire(presenceEventSubject(acquired), (msg) => this.event(acquired, msg));
      // The link down: nothing to wait for (a reconnect reconciles from every gateway's snapshot).
      w = { channel, subscribers: noneYet(), ready: this.broker.flush().catch(() => undefined), book: new MemberBook(), loaded: false, since: undefined, again: false };
      this.watched.set(channel, w);
      void this.reconcile(channel, w);
    }
    w.subscribers[enc.name]++;
    return w.ready;
  }

  /** A join/leave subscriber left. */
  unwatch(channel: string, enc: PushEncoding): void {
    const w = this.watched.get(channel);
    if (!w) return;
    w.subscribers[enc.name]--;
    if (this.encodings.some((e) => w.subscribers[e.name] > 0)) return;
    this.watched.delete(channel);
    this.broker.release(presenceEventSubject(channel));
  }

  /** Every member of `channel` on every live gateway, by client (ClusterUnavailableError when others cannot be asked). */
  async list(channel: string): Promise<Map<string, Member>> {
    const all = new Map<string, Member>();
    for (const [client, m] of this.local.get(channel) ?? []) if (m.listed) all.set(client, memberHere(client, m));
    for (const parts of (await this.ask(channel, { kind: "list" })).values()) for (const p of parts) for (const t of p.members ?? []) all.set(t[0], memberOf(t as MemberTuple));
    return all;
  }

  /** The number of `channel`'s members and of distinct users among them, on every live gateway. */
  async stats(channel: string): Promise<{ num_clients: number; num_users: number }> {
    const users = new Set<string>();
    let clients = 0;
    for (const m of this.local.get(channel)?.values() ?? []) {
      if (!m.listed) continue;
      clients++;
      users.add(m.user);
    }
    for (const parts of (await this.ask(channel, { kind: "stats" })).values()) {
      for (const p of parts) {
        clients += p.clients ?? 0;
        for (const u of p.users ?? []) users.add(u);
      }
    }
    return { num_clients: clients, num_users: users.size };
  }

  /** This gateway's members, per channel (for `channels`). */
  *localCounts(): Generator<[string, number]> {
    for (const [channel, members] of this.local) yield [channel, members.size];
  }

  /** Channels with members here. */
  get channels(): number {
    return this.local.size;
  }

  private ask(channel: string, q: PresenceQuery): Promise<ReadonlyMap<string, readonly PresenceAnswer[]>> {
    return askEveryGateway(this.broker, this.registry, presenceQuerySubject(channel), JSON.stringify(q), presenceAnswer.check, () =>
      this.rejections.count("nats_presence_payload", this.log, { subject: "presence answer" }),
    );
  }

  /** Another gateway's question about one of the channels: this gateway's members, in parts. */
  private answer(msg: Msg): void {
    if (!this.replies.allows("presence.query", msg.subject, msg.reply)) return;
    const channel = channelFromPresenceSubject(msg.subject);
    const q = readJson(msg, 1024);
    if (channel === undefined || !msg.reply || !presenceQuery.check(q)) {
      this.rejections.count("nats_presence_payload", this.log, { subject: msg.subject });
      return;
    }
    if (this.outgoing.size > 0) this.flush(); // the changes this answer already shows go out before it, in order
    const members = [...(this.local.get(channel) ?? [])].filter(([, m]) => (q.kind === "members" ? m.emit : m.listed));
    const tuples: MemberTuple[] = members.map(([client, m]) => tupleOf(memberHere(client, m)));
    const bodies: Array<Partial<PresenceAnswer>> =
      q.kind !== "stats"
        ? split(tuples, memberBytes).map((part) => ({ members: part as PresenceAnswer["members"] }))
        : split([...new Set(tuples.map((t) => t[1]))], textBytes).map((users, i) => ({ users, clients: i === 0 ? tuples.length : 0 }));
    answerInParts(this.broker, msg.reply, this.registry.id, bodies);
  }

  /** Joins and leaves on another gateway. */
  private event(channel: string, msg: Msg): void {
    const w = this.watched.get(channel);
    const e = readJson(msg, 256 * 1024);
    if (!presenceEvent.check(e) || e.gateway === this.registry.id) {
      this.rejections.count("nats_presence_payload", this.log, { subject: msg.subject });
      return;
    }
    if (!w) return;
    let since = w.since?.get(e.gateway);
    if (w.since && !since) w.since.set(e.gateway, (since = []));
    for (const change of e.changes) {
      const [kind, ...t] = change;
      const m = memberOf(t as MemberTuple);
      since?.push({ kind, m });
      if (w.book.apply(e.gateway, kind, m)) this.announce(w, kind, [m]);
    }
  }

  /** A member of this gateway joined or left: told to this gateway's join/leave subscribers at once, and to the other gateways with the rest of this turn's changes. */
  private changed(channel: string, kind: "join" | "leave", m: Member): void {
    const w = this.watched.get(channel);
    if (w) this.announce(w, kind, [m]);
    let list = this.outgoing.get(channel);
    if (!list) this.outgoing.set(channel, (list = []));
    list.push([kind, ...tupleOf(m)]);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const gateway = this.registry.id;
    for (const [channel, changes] of this.outgoing) {
      for (let i = 0; i < changes.length; i += MAX_PRESENCE_CHANGES) this.broker.publish(presenceEventSubject(channel), JSON.stringify({ gateway, changes: changes.slice(i, i + MAX_PRESENCE_CHANGES) }));
    }
    this.outgoing.clear();
  }

  /** Pushes joins or leaves to the channel's join/leave subscribers here: each frame serialized once per encoding. */
  private announce(w: Watched, kind: "join" | "leave", members: Member[]): void {
    if (members.length === 0) return;
    const server = this.server();
    for (const enc of this.encodings) {
      if (w.subscribers[enc.name] === 0) continue;
      const topic = enc.joinLeaveTopic(w.channel);
      for (const m of members) {
        const info = clientInfoOf(m);
        const frame = enc.frame(w.channel, kind === "join" ? { join: { info } } : { leave: { info } });
        server.publish(topic, frame);
        this.published(frame.length);
      }
    }
  }

  private reconcileAll(): void {
    for (const [channel, w] of this.watched) void this.reconcile(channel, w);
  }

  /**
   * Puts a watched channel's book right from every gateway's snapshot: members that joined or left
   * unseen (a link that dropped) are announced; gateways that are gone are dropped. The first
   * snapshot only fills the book.
   */
  private async reconcile(channel: string, w: Watched): Promise<void> {
    if (w.since) {
      w.again = true; // one is asking: it runs once more when done
      return;
    }
    w.since = new Map();
    let answers;
    try {
      answers = await this.ask(channel, { kind: "members" });
    } catch (err) {
      w.since = undefined;
      if (err instanceof ClusterUnavailableError) return; // the link is down: onUp reconciles again
      throw err;
    }
    const since = w.since;
    w.since = undefined;
    if (this.watched.get(channel) !== w) return;
    const announce = w.loaded;
    w.loaded = true;
    for (const [gateway, parts] of answers) {
      if (!this.registry.alive(gateway)) continue;
      // The events it published while the question was out apply on top: its answer may predate them.
      const change = w.book.replace(gateway, parts.flatMap((p) => (p.members ?? []) as MemberTuple[]), since.get(gateway));
      if (!announce) continue;
      this.announce(w, "leave", change.left);
      this.announce(w, "join", change.joined);
    }
    for (const gateway of w.book.gateways()) if (!this.registry.alive(gateway)) this.announce(w, "leave", w.book.drop(gateway));
    if (w.again) {
      w.again = false;
      void this.reconcile(channel, w);
    }
  }
}
