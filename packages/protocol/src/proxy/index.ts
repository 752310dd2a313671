export * from "./requests.ts";
export * from "./answers.ts";
export * from "./envelope.ts";
