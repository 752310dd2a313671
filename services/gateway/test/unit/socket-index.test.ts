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
  expect(idx.users).toBe(2); // ann, and "" (the /chat/ socket), as presence_stats counts
  idx.delete(c1, "ann", "c1");
  expect(idx.find("ann", undefined)).toEqual([n1]);
  expect(idx.find("ann", "c1")).toEqual([]);
  idx.delete(n1, "ann", undefined);
  expect(idx.users).toBe(1);
  idx.delete(room, "", "r1");
  expect(idx.users).toBe(0);
});

test("users counts like presence_stats: one per distinct user, every socket without one as user \"\"; a protocol connection added at open and again at connect counts once", () => {
  const idx = new SocketIndex();
  const data = { protocol: "centrifugo", client: { id: "c1", user: undefined as string | undefined } };
  const c1 = socket(data);
  idx.add(c1, userOf(c1), clientIdOf(c1)); // at open: not connected, user ""
  expect(idx.users).toBe(1);
  data.client.user = "ann";
  idx.add(c1, "ann", "c1"); // connected
  expect(idx.users).toBe(1);
  expect(idx.find("", "c1")).toEqual([]);
  const anon1 = socket({ protocol: "centrifugo", client: { id: "a1", user: "" } });
  const anon2 = socket({ protocol: "centrifugo", client: { id: "a2", user: "" } });
  idx.add(anon1, "", "a1");
  idx.add(anon2, "", "a2");
  expect(idx.users).toBe(2); // ann and ""
  expect(idx.identifiedUsers).toBe(1); // the rt_users gauge: ann only
  idx.delete(c1, userOf(c1), "c1");
  idx.delete(anon1, "", "a1");
  expect(idx.users).toBe(1);
  idx.delete(anon2, "", "a2");
  expect(idx.users).toBe(0);
});
