import { describe, expect, test } from "bun:test";
import { decodeToken, encodeToken, isUserId, metricsSubject, hostFromSubject, roomFromSubject, roomSubject, userLiveSubject, userStoreSubject, deliveredSubject } from "../src/index.ts";

const ODD_USERS = ["auth0|123", "a.b@example.com", "用户", "*", "x.>", ">", "a b", "..", "x".repeat(256), "😀emoji"];

describe("subject tokens", () => {
  test.each(ODD_USERS)("user id %p becomes one safe token and round-trips", (id) => {
    const token = encodeToken(id);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeToken(token)).toBe(id);
    for (const s of [userStoreSubject(id), userLiveSubject(id)]) {
      expect(s.split(".")).toHaveLength(3);
      expect(s).not.toMatch(/[\s*>]/);
    }
  });

  test("distinct user ids never share a subject", () => {
    const subjects = new Set(ODD_USERS.map(userStoreSubject));
    expect(subjects.size).toBe(ODD_USERS.length);
  });

  test("decodeToken refuses what encodeToken cannot produce", () => {
    expect(decodeToken("a.b")).toBeUndefined();
    expect(decodeToken("*")).toBeUndefined();
    expect(decodeToken("")).toBeUndefined();
    expect(decodeToken("YQ=")).toBeUndefined();
  });

  test("an empty token is refused", () => {
    expect(() => encodeToken("")).toThrow();
  });
});

describe("room and other subjects", () => {
  test("valid room ids are used as they are", () => {
    expect(roomSubject("lobby_1-A")).toBe("chat.room.lobby_1-A");
    expect(roomFromSubject("chat.room.lobby_1-A")).toBe("lobby_1-A");
  });

  test.each(["a.b", "*", ">", "a b", "", "x".repeat(65), "a\u0000b"])("room id %p never reaches a subject", (room) => {
    expect(() => roomSubject(room)).toThrow();
  });

  test("metrics subjects encode the host and decode back", () => {
    const s = metricsSubject("host.with*odd>chars");
    expect(s).toMatch(/^metrics\.host\.[A-Za-z0-9_-]+$/);
    expect(hostFromSubject(s)).toBe("host.with*odd>chars");
    expect(hostFromSubject("metrics.host.a.b")).toBeUndefined();
  });

  test("delivered subjects take generated ids only", () => {
    expect(deliveredSubject("abc_DEF-1")).toBe("notify.delivered.abc_DEF-1");
    expect(() => deliveredSubject("a.b")).toThrow();
  });
});

describe("user ids", () => {
  test.each(["auth0|123", "a.b@example.com", "用户", "*", "x.>", "x".repeat(256), "😀".repeat(256)])("%p is valid", (id) => {
    expect(isUserId(id)).toBe(true);
  });
  test.each(["", "x".repeat(257), "a\u0000b", "line\nbreak", "\u007f", "\uD800"])("%p is invalid", (id) => {
    expect(isUserId(id)).toBe(false);
  });
});
