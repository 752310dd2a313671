import { describe, expect, test } from "bun:test";
import { layoutRooms, type RoomSpeech } from "./rooms-layout.ts";

const speech = (room: string): RoomSpeech => ({ path: `/chat/${room}`, client: {}, mode: "count" });

describe("layoutRooms", () => {
  test("deals rooms to client processes, splits each room's members over the server processes, senders alternating", () => {
    const l = layoutRooms({ prefix: "r", rooms: 4, members: 10, ports: [1, 2], workers: 2, host: "h", speech, probes: false });
    expect(l.rooms.map((r) => [r.name, r.worker])).toEqual([["r-0", 0], ["r-1", 1], ["r-2", 0], ["r-3", 1]]);
    // Worker 0 holds r-0 (sender on port 1) and r-2 (sender on port 1 again: room k's sender is on process k mod 2).
    expect(l.members[0]!.map((g) => [g.path, g.port, g.count])).toEqual([["/chat/r-0", 1, 5], ["/chat/r-0", 2, 5], ["/chat/r-2", 1, 5], ["/chat/r-2", 2, 5]]);
    expect(l.members[1]!.map((g) => [g.path, g.port, g.count])).toEqual([["/chat/r-1", 2, 5], ["/chat/r-1", 1, 5], ["/chat/r-3", 2, 5], ["/chat/r-3", 1, 5]]);
    // Indices within each worker's open call: a room's sender is its first socket, and the first on the other process paces too.
    expect(l.rooms.map((r) => [r.sender, r.paces])).toEqual([[0, [0, 5]], [0, [0, 5]], [10, [10, 15]], [10, [10, 15]]]);
    // Every member opened once: 10 per room.
    for (const w of [0, 1]) expect(l.members[w]!.reduce((a, g) => a + g.count, 0)).toBe(20);
    expect(l.probes).toEqual([[], []]);
  });

  test("with probes, one member per room on each server process is opened apart, and the room keeps its size", () => {
    const l = layoutRooms({ prefix: "p", rooms: 2, members: 10, ports: [1, 2], workers: 1, host: "h", speech, probes: true });
    expect(l.members[0]!.map((g) => [g.path, g.port, g.count])).toEqual([["/chat/p-0", 1, 4], ["/chat/p-0", 2, 4], ["/chat/p-1", 2, 4], ["/chat/p-1", 1, 4]]);
    expect(l.probes[0]!.map((g) => [g.path, g.port, g.count])).toEqual([["/chat/p-0", 1, 1], ["/chat/p-0", 2, 1], ["/chat/p-1", 2, 1], ["/chat/p-1", 1, 1]]);
    expect(l.rooms.map((r) => [r.sender, r.paces])).toEqual([[0, [0, 4]], [8, [8, 12]]]);
  });

  test("one server process: the sender alone paces its room", () => {
    const l = layoutRooms({ prefix: "s", rooms: 2, members: 3, ports: [7], workers: 1, host: "h", speech, probes: false });
    expect(l.members[0]!.map((g) => g.count)).toEqual([3, 3]);
    expect(l.rooms.map((r) => r.paces)).toEqual([[0], [3]]);
  });

  test("refuses rooms too small for their probes", () => {
    expect(() => layoutRooms({ prefix: "t", rooms: 1, members: 2, ports: [1, 2], workers: 1, host: "h", speech, probes: true })).toThrow(/no member beside the probe/);
  });
});
