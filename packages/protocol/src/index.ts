export { validator, parseJson, type Validator, type Checked, type FieldError } from "./validator.ts";
export { RoomId, UserId, HostId, ROOM_ID_PATTERN, USER_ID_PATTERN, isRoomId, isUserId, userIdValidator } from "./ids.ts";
export { encodeToken, decodeToken, isSafeToken } from "./subject-token.ts";
export * from "./subjects.ts";
export * from "./frames.ts";
export * from "./metrics.ts";
export * from "./notification.ts";
export { CloseCode } from "./close-codes.ts";
export { MAX_JSON_DEPTH, depthWithin } from "./json-depth.ts";
