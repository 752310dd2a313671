export * from "./codes.ts";
export * from "./commands.ts";
export * from "./proto.ts";
export * from "./subscription-token.ts";
