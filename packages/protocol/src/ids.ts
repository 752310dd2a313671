import Type from "typebox";
import { validator } from "./validator.ts";

/** Room ids: 1 to 64 characters of A-Z a-z 0-9 _ - (docs/websocket.md). Safe as a subject token as they are. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const RoomId = Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$", minLength: 1, maxLength: 64 });

/** User ids: 1 to 256 printable characters (no control characters, no lone surrogates). */
export const USER_ID_PATTERN = /^[^\p{Cc}\p{Cs}]{1,256}$/u;
export const UserId = Type.String({ minLength: 1, maxLength: 256, pattern: "^[^\\p{Cc}\\p{Cs}]+$" });

/** True when `s` is a valid room id. */
export const isRoomId = (s: string): boolean => ROOM_ID_PATTERN.test(s);

/** True when `s` is a valid user id. */
export const isUserId = (s: string): boolean => USER_ID_PATTERN.test(s);

/** Host ids as the metrics service reports them: 1 to 253 printable characters. */
export const HostId = Type.String({ minLength: 1, maxLength: 253, pattern: "^[^\\p{Cc}\\p{Cs}]+$" });

export const userIdValidator = validator(UserId);
