import type { Msg } from "@nats-io/transport-node";
import type { Server } from "bun";
import { MAX_PRESENCE_CHANGES, PRESENCE_QUERY_WILDCARD, presenceAnswer, presenceEvent, presenceEventSubject, presenceQuery, presenceQuerySubject, roomFromPresenceSubject, type PresenceAnswer, type PresenceQuery } from "@rt/protocol";
import type { Logger, ReplyGuard } from "@rt/runtime";
import type { Broker } from "../broker/broker.ts";
import type { GatewayRegistry } from "../cluster/gateways.ts";
import { noneYet, type PerEncoding, type PushEncoding } from "../protocols/centrifugo/push.ts";
import type { Rejections } from "../rejections.ts";
import { ClusterUnavailableError, answerInParts, askEveryGateway, readJson } from "../cluster/gather.ts";
import { split, textBytes } from "../cluster/parts.ts";
import { MemberBook, type Member } from "./member-book.ts";

/** A member's bytes in an answer: `["client","user"],` with room for escapes. */
const memberBytes = (m: readonly [string, string]): number => m[0].length + 2 * m[1].length + 8;

/** A room with join/leave subscribers on this gateway. */
interface Watched {
  channel: string;
  subscribers: PerEncoding;
  /** The other gateways' members, so their joins, leaves and deaths can be told. */
  book: MemberBook;
  /** False until the first snapshot: the members there before are not announced as joining. */
  loaded: boolean;
}

/**
 * Who is in each room, across gateways, without shared state: each gateway knows its own members
 * (`/chat/{room}` sockets and protocol subscribers of `chat:<room>`) and answers presence
 * questions on `presence.query.<room>`; a `presence` call asks every live gateway (GatewayRegistry)
 * and merges the answers with its own members. Joins and leaves are published on
 * `presence.event.<room>` and pushed (serialized once per encoding) to the join/leave subscribers
 * of every gateway; for rooms with such subscribers a gateway keeps the others' members (MemberBook)
 * so that a gateway that dies has its members announced as left once it is known gone (15 s), and
 * what a dropped link hid is reconciled from a snapshot when it comes back.
 */
export class Presence {
  /** This gateway's members: room → client → user. */
  private readonly local = new Map<string, Map<string, string>>();
  private readonly watched = new Map<string, Watched>();
  /** Changes of this turn not yet published, per room (one message per room per turn). */
  private readonly outgoing = new Map<string, Array<["join" | "leave", string, string]>>();
  private flushScheduled = false;

  constructor(
    private readonly server: () => Server<unknown>,
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
    this.registry.onGone((gateway) => {
      for (const w of this.watched.values()) this.announce(w, "leave", w.book.drop(gateway));
    });
    this.registry.onChanged(() => this.reconcileAll());
    this.broker.onUp(() => this.reconcileAll());
  }

  /** `client` of `user` is a member of `room` here now. */
  add(room: string, client: string, user: string): void {
    let members = this.local.get(room);
    if (!members) this.local.set(room, (members = new Map()));
    members.set(client, user);
    this.changed(room, "join", { client, user });
  }

  /** `client` is no longer a member of `room`. */
  remove(room: string, client: string): void {
    const members = this.local.get(room);
    const user = members?.get(client);
    if (user === undefined) return;
    members!.delete(client);
    if (members!.size === 0) this.local.delete(room);
    this.changed(room, "leave", { client, user });
  }

  /** A join/leave subscriber of `room` here (after its subscribe reply and topic subscribe). */
  watch(room: string, enc: PushEncoding): void {
    let w = this.watched.get(room);
    if (!w) {
      w = { channel: `chat:${room}`, subscribers: noneYet(), book: new MemberBook(), loaded: false };
      this.watched.set(room, w);
      this.broker.acquire(presenceEventSubject(room), (msg) => this.event(room, msg));
      void this.reconcile(room, w);
    }
    w.subscribers[enc.name]++;
  }

  /** A join/leave subscriber left. */
  unwatch(room: string, enc: PushEncoding): void {
    const w = this.watched.get(room);
    if (!w) return;
    w.subscribers[enc.name]--;
    if (this.encodings.some((e) => w.subscribers[e.name] > 0)) return;
    this.watched.delete(room);
    this.broker.release(presenceEventSubject(room));
  }

  /** Every member of `room` on every live gateway (ClusterUnavailableError when others cannot be asked). */
  async list(room: string): Promise<Map<string, string>> {
    const all = new Map(this.local.get(room));
    for (const parts of (await this.ask(room, { kind: "list" })).values()) for (const p of parts) for (const [client, user] of p.members ?? []) all.set(client, user);
    return all;
  }

  /** The number of `room`'s members and of distinct users among them, on every live gateway. */
  async stats(room: string): Promise<{ num_clients: number; num_users: number }> {
    const members = this.local.get(room);
    const users = new Set(members?.values());
    let clients = members?.size ?? 0;
    for (const parts of (await this.ask(room, { kind: "stats" })).values()) {
      for (const p of parts) {
        clients += p.clients ?? 0;
        for (const u of p.users ?? []) users.add(u);
      }
    }
    return { num_clients: clients, num_users: users.size };
  }

  /** This gateway's members, per room (for `channels`). */
  *localCounts(): Generator<[string, number]> {
    for (const [room, members] of this.local) yield [room, members.size];
  }

  /** Rooms with members here. */
  get rooms(): number {
    return this.local.size;
  }

  private ask(room: string, q: PresenceQuery): Promise<ReadonlyMap<string, readonly PresenceAnswer[]>> {
    return askEveryGateway(this.broker, this.registry, presenceQuerySubject(room), JSON.stringify(q), presenceAnswer.check, () =>
      this.rejections.count("nats_presence_payload", this.log, { subject: "presence answer" }),
    );
  }

  /** Another gateway's question about one of the rooms: this gateway's members, in parts. */
  private answer(msg: Msg): void {
    if (!this.replies.allows("presence.query", msg.subject, msg.reply)) return;
    const room = roomFromPresenceSubject(msg.subject);
    const q = readJson(msg, 1024);
    if (room === undefined || !msg.reply || !presenceQuery.check(q)) {
      this.rejections.count("nats_presence_payload", this.log, { subject: msg.subject });
      return;
    }
    if (this.outgoing.size > 0) this.flush(); // the changes this answer already shows go out before it, in order
    const members = this.local.get(room);
    const bodies: Array<Partial<PresenceAnswer>> =
      q.kind === "list"
        ? split([...(members ?? [])], memberBytes).map((part) => ({ members: part }))
        : split([...new Set(members?.values())], textBytes).map((users, i) => ({ users, clients: i === 0 ? (members?.size ?? 0) : 0 }));
    answerInParts(this.broker, msg.reply, this.registry.id, bodies);
  }

  /** Joins and leaves on another gateway. */
  private event(room: string, msg: Msg): void {
    const w = this.watched.get(room);
    const e = readJson(msg, 256 * 1024);
    if (!presenceEvent.check(e) || e.gateway === this.registry.id) {
      this.rejections.count("nats_presence_payload", this.log, { subject: msg.subject });
      return;
    }
    if (!w) return;
    for (const [kind, client, user] of e.changes) if (w.book.apply(e.gateway, kind, { client, user })) this.announce(w, kind, [{ client, user }]);
  }

  /** A member of this gateway joined or left: told to this gateway's join/leave subscribers at once, and to the other gateways with the rest of this turn's changes. */
  private changed(room: string, kind: "join" | "leave", m: Member): void {
    const w = this.watched.get(room);
    if (w) this.announce(w, kind, [m]);
    let list = this.outgoing.get(room);
    if (!list) this.outgoing.set(room, (list = []));
    list.push([kind, m.client, m.user]);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const gateway = this.registry.id;
    for (const [room, changes] of this.outgoing) {
      for (let i = 0; i < changes.length; i += MAX_PRESENCE_CHANGES) this.broker.publish(presenceEventSubject(room), JSON.stringify({ gateway, changes: changes.slice(i, i + MAX_PRESENCE_CHANGES) }));
    }
    this.outgoing.clear();
  }

  /** Pushes joins or leaves to the room's join/leave subscribers here: each frame serialized once per encoding. */
  private announce(w: Watched, kind: "join" | "leave", members: Member[]): void {
    if (members.length === 0) return;
    const server = this.server();
    for (const enc of this.encodings) {
      if (w.subscribers[enc.name] === 0) continue;
      const topic = enc.joinLeaveTopic(w.channel);
      for (const m of members) {
        const info = { user: m.user, client: m.client };
        const frame = enc.frame(w.channel, kind === "join" ? { join: { info } } : { leave: { info } });
        server.publish(topic, frame);
        this.published(frame.length);
      }
    }
  }

  private reconcileAll(): void {
    for (const [room, w] of this.watched) void this.reconcile(room, w);
  }

  /**
   * Puts a watched room's book right from every gateway's snapshot: members that joined or left
   * unseen (a link that dropped) are announced; gateways that are gone are dropped. The first
   * snapshot only fills the book.
   */
  private async reconcile(room: string, w: Watched): Promise<void> {
    let answers;
    try {
      answers = await this.ask(room, { kind: "list" });
    } catch (err) {
      if (err instanceof ClusterUnavailableError) return; // the link is down: onUp reconciles again
      throw err;
    }
    if (this.watched.get(room) !== w) return;
    const announce = w.loaded;
    w.loaded = true;
    for (const [gateway, parts] of answers) {
      if (!this.registry.alive(gateway)) continue;
      const change = w.book.replace(gateway, parts.flatMap((p) => p.members ?? []));
      if (!announce) continue;
      this.announce(w, "leave", change.left);
      this.announce(w, "join", change.joined);
    }
    for (const gateway of w.book.gateways()) if (!this.registry.alive(gateway)) this.announce(w, "leave", w.book.drop(gateway));
  }

}
