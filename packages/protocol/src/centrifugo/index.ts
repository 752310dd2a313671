export * from "./codes.ts";
export * from "./commands.ts";
