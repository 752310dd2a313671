import schema from "../../proto/client.proto" with { type: "text" };

/** The Protobuf schema of the client protocol (`proto/client.proto`): what `centrifuge-protobuf` frames carry. */
export const CLIENT_PROTO: string = schema;
