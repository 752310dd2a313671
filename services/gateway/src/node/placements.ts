import { ProtocolError, centrifugo } from "@rt/protocol";
import type { ChannelHub, Position, Recovery } from "../channels/hub.ts";
import { inboxSub, type Inbox, type InboxPosition } from "../channels/inbox.ts";
import type { MonitorRelay } from "../channels/monitor.ts";
import type { Presence } from "../presence/presence.ts";
import type { Opened, Placement, Subscriber, SubscriptionGrant } from "./subscription.ts";

const { ErrorCode } = centrifugo;

/** How long connect waits for the user's inbox to be placed (its position goes into the reply). */
const INBOX_POSITION_TIMEOUT_MS = 5000;

/**
 * A subscribe (or connect `subs`) result at `pos`: positioned subscriptions carry the channel's
 * `epoch` and `offset`, recoverable ones `recoverable: true` (the SDKs drop their recover flag
 * without it), and a recovery asked for its outcome and the publications it recovered.
 */
export function positionResult(pos: Position, grant: SubscriptionGrant, recovering: boolean): Record<string, unknown> {
  const f = grant.features;
  if (!f.recovery && !f.positioning) return {};
  const result: Record<string, unknown> = f.recovery ? { recoverable: true, epoch: pos.epoch, offset: pos.offset, positioned: true } : { epoch: pos.epoch, offset: pos.offset, positioned: true };
  if (recovering) Object.assign(result, { recovered: pos.recovered, was_recovering: true, publications: pos.publications });
  return result;
}

/**
 * Places `sub` in a channel of a hub (a stream's channels, or channels without history): joins
 * it, finds where the subscriber starts (recovering when the grant allows and the client asked),
 * and opens it on `open()`: the channel's topic, its join/leave topic when pushed, and presence.
 * With `rejectUnrecovered` (the SDK's flag 2), a recovery that fails is error 112 instead. A
 * subscription with Fossil deltas (`delta: true` in its result) gets its recovered publications as
 * a delta subscriber reads them, and joins the hub's delta fan-out instead of the channel's topic.
 */
export async function placeInHub(
  hub: ChannelHub,
  presence: Presence,
  sub: Subscriber,
  channel: string,
  grant: SubscriptionGrant,
  asked: Recovery | undefined,
  rejectUnrecovered = false,
): Promise<Placement> {
  const enc = sub.pushes;
  const f = grant.features;
  const recover = f.recovery ? asked : undefined;
  hub.join(channel, enc.name);
  // Joins and leaves are followed from the subscribe on (their NATS subscription in place before the reply).
  const watching = f.pushJoinLeave ? presence.watch(channel, enc) : undefined;
  const undo = () => {
    if (watching) presence.unwatch(channel, enc);
    hub.leave(channel, enc.name);
  };
  let pos: Position;
  try {
    [pos] = await Promise.all([hub.position(channel, recover), watching]);
  } catch (err) {
    undo();
    throw err instanceof ProtocolError ? err : new ProtocolError(ErrorCode.Internal);
  }
  if (recover && !pos.recovered && rejectUnrecovered) {
    undo();
    throw new ProtocolError(ErrorCode.UnrecoverablePosition);
  }
  let settled = false;
  /** What a delta subscriber holds once its reply is read: the last recovered publication's JSON. */
  let holds: string | undefined;
  const resultAt = (p: Position): Record<string, unknown> => {
    const result = positionResult(p, grant, recover !== undefined);
    if (!f.delta) return result;
    holds = undefined;
    if (p.publications.length > 0 && result.publications !== undefined) {
      const back = hub.deltas.recovered(channel, p.publications, enc.name);
      result.publications = back.publications;
      holds = back.holds;
    }
    result.delta = true;
    return result;
  };
  const placement: Placement = {
    channel,
    result: resultAt(pos),
    catchUp() {
      pos = hub.catchUp(channel, pos, recover !== undefined);
      placement.result = resultAt(pos);
    },
    cancel() {
      if (settled) return;
      settled = true;
      undo();
    },
    open(): Opened {
      settled = true;
      hub.flush(channel); // pushes held this turn are covered by the reply: they go to the others now, not to this socket
      const topic = f.delta ? undefined : hub.topic(channel, enc);
      if (topic === undefined) hub.deltas.join(channel, sub.sink, enc, holds);
      else sub.sink.subscribe(topic);
      const joinLeave = watching ? enc.joinLeaveTopic(channel) : undefined;
      if (joinLeave) sub.sink.subscribe(joinLeave);
      const member = f.presence || f.emitJoinLeave;
      if (member) presence.add(channel, sub.id, sub.user, { listed: f.presence, emit: f.emitJoinLeave, info: grant.info, connInfo: sub.connInfo }); // its own join too, when it asked for joins
      return {
        close() {
          if (topic === undefined) hub.deltas.leave(channel, sub.sink, enc);
          else sub.sink.unsubscribe(topic);
          if (joinLeave) {
            sub.sink.unsubscribe(joinLeave);
            presence.unwatch(channel, enc);
          }
          if (member) presence.remove(channel, sub.id);
          hub.leave(channel, enc.name);
        },
      };
    },
  };
  return placement;
}

/** `system:monitor`: nothing to place; once open, the newest sample of each host, then the live ones. */
export function placeMonitor(monitor: MonitorRelay, sub: Subscriber, channel: string): Placement {
  return {
    channel,
    result: {},
    catchUp() {},
    cancel() {},
    open(): Opened {
      monitor.subscribeProtocol(sub.sink, sub.pushes);
      return { close: () => monitor.unsubscribeProtocol(sub.sink, sub.pushes) };
    },
  };
}

/**
 * The user's inbox `#<user>`, a server-side subscription made at connect: open at once (it writes
 * as soon as it is placed), its result (the position, recovered when asked and possible) once
 * placed. Without the inbox stream (no notifier yet) the connect goes through all the same: the
 * subscription places itself once the stream exists; with no epoch, a recovery is reported failed.
 */
export function openInbox(inbox: Inbox, sub: Subscriber, asked: Recovery | undefined, slow: () => void): { opened: Opened; result: Promise<Record<string, unknown>> } {
  const recovering = asked !== undefined;
  if (!inbox.available) {
    const s = inboxSub(sub.sink, sub.user, sub.pushes, { kind: "live" }, slow);
    inbox.open(s);
    return { opened: { close: () => inbox.close(s), drain: () => inbox.drain(s) }, result: Promise.resolve({ recoverable: true, epoch: "", offset: 0, ...(recovering ? { recovered: false, was_recovering: true } : {}) }) };
  }
  const positioned = Promise.withResolvers<InboxPosition>();
  let placed: InboxPosition | undefined;
  const start = asked ? { kind: "recover" as const, offset: asked.offset, epoch: asked.epoch } : { kind: "live" as const };
  const s = inboxSub(sub.sink, sub.user, sub.pushes, start, slow, (p) => {
    // Synchronously before anything is written to the socket: the reply goes first.
    placed = p;
    positioned.resolve(p);
  });
  inbox.open(s);
  const timer = setTimeout(() => positioned.reject(new ProtocolError(ErrorCode.Internal)), INBOX_POSITION_TIMEOUT_MS);
  const result = positioned.promise.then(
    () => {
      clearTimeout(timer);
      const p = placed!;
      return { recoverable: true, epoch: p.epoch, offset: p.seq, positioned: true, ...(recovering ? { recovered: p.recovered, was_recovering: true } : {}) };
    },
    (err: unknown) => {
      clearTimeout(timer);
      throw err;
    },
  );
  return { opened: { close: () => inbox.close(s), drain: () => inbox.drain(s) }, result };
}
