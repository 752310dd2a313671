/** Files imported as text (Bun's `with { type: "text" }`): the Protobuf schema. */
declare module "*.proto" {
  const text: string;
  export default text;
}
