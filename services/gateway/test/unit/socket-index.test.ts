import { expect, test } from "bun:test";
import { SocketIndex, clientIdOf, userOf } from "../../src/sessions/socket-index.ts";
import type { GatewaySocket } from "../../src/protocols/socket-data.ts";

const socket = (data: object) => ({ data }) as unknown as GatewaySocket;

test("sockets by user and by client id; anonymous ones only by client id; a client of another user is not found", () => {
  const idx = new SocketIndex();
  const n1 = socket({ protocol: "notifications", userId: "ann" });
  const c1 = socket({ protocol: "centrifugo", client: { id: "c1", user: "ann" } });
  const room = socket({ protocol: "room", info: { user: "", client: "r1" } });
  for (const ws of [n1, c1, room]) idx.add(ws, userOf(ws), clientIdOf(ws));
  expect(idx.find("ann", undefined).sort()).toEqual([n1, c1].sort());
  expect(idx.find("ann", "c1")).toEqual([c1]);
  expect(idx.find("bob", "c1")).toEqual([]);
  expect(idx.find("", "r1")).toEqual([room]);
  expect(idx.find("", undefined)).toEqual([]); // never every anonymous socket at once
  expect(idx.users).toBe(1);
  idx.delete(c1, "ann", "c1");
  expect(idx.find("ann", undefined)).toEqual([n1]);
  expect(idx.find("ann", "c1")).toEqual([]);
  idx.delete(n1, "ann", undefined);
  expect(idx.users).toBe(0);
});
