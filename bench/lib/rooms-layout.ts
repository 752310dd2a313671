import type { OpenGroup, ReadMode } from "../client/messages.ts";
import { split } from "./plan.ts";

/** How a member of a room joins it and what its sender sends (bench/scenarios/fanout.ts `speech`). */
export interface RoomSpeech {
  path: string;
  client: Partial<OpenGroup>;
  mode: ReadMode;
}

/** One room of a layout: its client process, its sender and pace sockets (indices within that process's `members` open call). */
export interface LaidRoom {
  name: string;
  worker: number;
  sender: number;
  /** The sender, and the room's first member on each other server process. */
  paces: number[];
}

/** Many rooms spread over server processes and client processes. */
export interface RoomsLayout {
  rooms: LaidRoom[];
  /** Per client process: the rooms' members, opened in one call in the arm's read mode (sender first in each room). */
  members: OpenGroup[][];
  /** Per client process: one member per room on each server process, opened in a second call to time every delivery (`notify` mode); empty without probes. */
  probes: OpenGroup[][];
}

/**
 * `rooms` rooms named `<prefix>-<k>` of `members` each: room k belongs to client process k mod
 * `workers`; its members are split evenly over the server processes (`ports`), its one sender on
 * process k mod ports (so senders alternate); with `probes`, one member on each process is a probe.
 */
export function layoutRooms(o: { prefix: string; rooms: number; members: number; ports: number[]; workers: number; host: string; speech: (room: string) => RoomSpeech; probes: boolean }): RoomsLayout {
  const P = o.ports.length;
  const out: RoomsLayout = { rooms: [], members: Array.from({ length: o.workers }, () => []), probes: Array.from({ length: o.workers }, () => []) };
  const next = new Array<number>(o.workers).fill(0);
  for (let k = 0; k < o.rooms; k++) {
    const name = `${o.prefix}-${k}`;
    const w = k % o.workers;
    const say = o.speech(name);
    const group = (port: number, count: number): OpenGroup => ({ host: o.host, port, path: say.path, count, ...say.client });
    const share = split(o.members, P);
    const room: LaidRoom = { name, worker: w, sender: -1, paces: [] };
    for (let j = 0; j < P; j++) {
      const p = (k + j) % P;
      const probes = o.probes ? 1 : 0;
      const count = share[j]! - probes;
      if (count <= 0) throw new Error(`rooms of ${o.members} over ${P} processes leave no member beside the probe`);
      // The first member opened on each process paces the room; on the sender's process it is the sender.
      if (j === 0) room.sender = next[w]!;
      room.paces.push(next[w]!);
      out.members[w]!.push(group(o.ports[p]!, count));
      next[w]! += count;
      if (probes) out.probes[w]!.push(group(o.ports[p]!, probes));
    }
    out.rooms.push(room);
  }
  return out;
}
