import protobuf from "protobufjs";
import { centrifugo } from "@rt/protocol";
import type { Codec } from "./codec.ts";
import type { PushBody, PushEncoding } from "./push.ts";

const root = protobuf.parse(centrifugo.CLIENT_PROTO, { keepCase: true }).root;
const Command = root.lookupType("rt.centrifugo.Command");
const Reply = root.lookupType("rt.centrifugo.Reply");

/** At most this many commands in one frame (as for JSON). */
const MAX_COMMANDS_PER_FRAME = 1000;
/** The methods whose request carries application `data` (bytes on the wire, a JSON value inside). */
const WITH_DATA = ["connect", "subscribe", "publish", "rpc", "send"] as const;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** JSON value → the bytes `data` carries (UTF-8 JSON). */
const jsonBytes = (value: unknown): Uint8Array => utf8.encode(JSON.stringify(value));

/** The bytes of a `data` field as the JSON value they hold; `invalid` when they are not UTF-8 JSON. */
const INVALID = Symbol("invalid data");
function jsonValue(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(fromUtf8.decode(bytes));
  } catch {
    return INVALID;
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !(v instanceof Uint8Array);

/**
 * A decoded Command as the JSON protocol's object: `data` bytes become the JSON value they hold
 * (empty: absent). A method whose data is not UTF-8 JSON gets a `null` body, which the client's
 * validation refuses like any bad request (107).
 */
function toCommand(msg: protobuf.Message): Obj {
  const cmd = Command.toObject(msg, { longs: Number }) as Obj;
  for (const method of WITH_DATA) {
    const body = cmd[method];
    if (!isObj(body)) continue;
    const data = body.data;
    if (data instanceof Uint8Array) {
      if (data.byteLength === 0) delete body.data;
      else {
        const value = jsonValue(data);
        if (value === INVALID) cmd[method] = null;
        else body.data = value;
      }
    }
  }
  return cmd;
}

/** A ClientInfo's connection and channel info (JSON values here) as the bytes they are on the wire. */
function wireInfo(info: unknown): unknown {
  if (!isObj(info) || (info.chan_info === undefined && info.conn_info === undefined)) return info;
  const out: Obj = { ...info };
  if (info.conn_info !== undefined) out.conn_info = jsonBytes(info.conn_info);
  if (info.chan_info !== undefined) out.chan_info = jsonBytes(info.chan_info);
  return out;
}

/** A publication's JSON `data` as bytes (data that is bytes already, a delta subscriber's, goes as it is), and its info's channel info. */
function wirePub(p: unknown): unknown {
  if (!isObj(p)) return p;
  const out: Obj = { ...p };
  if (p.data !== undefined && !(p.data instanceof Uint8Array)) out.data = jsonBytes(p.data);
  if (p.info !== undefined) out.info = wireInfo(p.info);
  return out;
}

const wirePubs = (list: unknown): unknown => (Array.isArray(list) ? list.map(wirePub) : list);

/** A subscribe result (or a connect's `subs` entry): its publications, and the `data` a subscribe proxy gave it, as bytes. */
function wireSubscribeResult(r: Obj): Obj {
  const out: Obj = { ...r, publications: wirePubs(r.publications) };
  if (r.data !== undefined) out.data = jsonBytes(r.data);
  return out;
}

/** The results whose publications (and data) are JSON values inside, bytes on the wire. */
function wireResult(method: string, r: Obj): Obj {
  switch (method) {
    case "connect": {
      const out: Obj = { ...r };
      if (r.data !== undefined) out.data = jsonBytes(r.data);
      if (isObj(r.subs)) out.subs = Object.fromEntries(Object.entries(r.subs).map(([ch, s]) => [ch, isObj(s) ? wireSubscribeResult(s) : s]));
      return out;
    }
    case "subscribe":
      return wireSubscribeResult(r);
    case "history":
      return { ...r, publications: wirePubs(r.publications) };
    case "rpc":
      return r.data === undefined ? r : { ...r, data: jsonBytes(r.data) };
    case "presence":
      return isObj(r.presence) ? { ...r, presence: Object.fromEntries(Object.entries(r.presence).map(([client, info]) => [client, wireInfo(info)])) } : r;
    default:
      return r;
  }
}

/** A push body with its JSON values as bytes. */
function wirePush(p: Obj): Obj {
  const out: Obj = { ...p };
  if (p.pub !== undefined) out.pub = wirePub(p.pub);
  for (const kind of ["join", "leave"] as const) if (isObj(p[kind])) out[kind] = { ...p[kind], info: wireInfo(p[kind].info) };
  if (isObj(p.message) && p.message.data !== undefined) out.message = { data: jsonBytes(p.message.data) };
  if (isObj(p.subscribe) && p.subscribe.data !== undefined) out.subscribe = { ...p.subscribe, data: jsonBytes(p.subscribe.data) };
  return out;
}

/** One Reply object (as the JSON protocol writes it) in its wire form. */
function wireReply(reply: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(reply)) out[k] = k === "push" && isObj(v) ? wirePush(v) : isObj(v) && k !== "error" ? wireResult(k, v) : v;
  return out;
}

/** Replies as one binary frame: each length-delimited. */
function encodeReplies(replies: object[]): Uint8Array {
  const w = protobuf.Writer.create();
  for (const r of replies) Reply.encodeDelimited(wireReply(r as Obj), w);
  return w.finish();
}

/**
 * The Protobuf codec (`centrifuge-protobuf`): binary frames of varint-length-delimited Commands
 * in, Replies out, with the schema of `packages/protocol/proto/client.proto`. Commands become the
 * same objects the JSON codec yields, so one Client serves both. A text frame, or bytes that are
 * not whole messages: unreadable.
 */
export class ProtobufCodec implements Codec {
  readonly pushes = protobufPushes;

  decode(message: string | Buffer): unknown[] | undefined {
    if (typeof message === "string") return undefined;
    const reader = protobuf.Reader.create(message);
    const out: unknown[] = [];
    try {
      while (reader.pos < reader.len) {
        if (out.length >= MAX_COMMANDS_PER_FRAME) return undefined;
        out.push(toCommand(Command.decodeDelimited(reader)));
      }
    } catch {
      return undefined;
    }
    return out.length > 0 ? out : undefined;
  }

  encode(replies: object[]): Uint8Array {
    return encodeReplies(replies);
  }
}

/** Protobuf pushes: `Reply{push}` in binary frames, on their own topics (`pb:`, `pbjl:`). */
export const protobufPushes: PushEncoding = {
  name: "protobuf",
  topic: (channel) => `pb:${channel}`,
  joinLeaveTopic: (channel) => `pbjl:${channel}`,
  frame: (channel, body: PushBody) => encodeReplies([{ push: { channel, ...body } }]),
  publication: (channel, dataJson, offset) => {
    const w = protobuf.Writer.create();
    Reply.encodeDelimited({ push: { channel, pub: offset === undefined ? { data: utf8.encode(dataJson) } : { data: utf8.encode(dataJson), offset } } }, w);
    return w.finish();
  },
  join: (frames) => {
    let length = 0;
    for (const f of frames) length += f.length;
    const out = new Uint8Array(length);
    let at = 0;
    for (const f of frames) {
      out.set(f as Uint8Array, at);
      at += f.length;
    }
    return out;
  },
};

/** Compile-time check that the codec fits the interface. */
const _fits: Codec = new ProtobufCodec();
void _fits;
