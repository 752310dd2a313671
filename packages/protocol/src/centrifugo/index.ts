export * from "./codes.ts";
export * from "./commands.ts";
export * from "./errors.ts";
export * from "./proto.ts";
export * from "./subscription-token.ts";
