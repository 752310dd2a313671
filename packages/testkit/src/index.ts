export { freePort, waitFor, portOpen } from "./ports.ts";
export { TestNats, natsServerBinary } from "./nats-server.ts";
export { ServiceProcess, runToExit, ROOT } from "./process.ts";
export { TestSocket, upgradeStatus } from "./ws-client.ts";
export { signToken, TEST_JWT_SECRET } from "./tokens.ts";
export { TestSystem, type SystemOptions } from "./system.ts";
export { ResumingClient, auditSeqs } from "./resuming-client.ts";
