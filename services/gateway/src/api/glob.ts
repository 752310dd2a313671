/** A channel pattern of the server API's `channels`: `*` matches any run of characters, `?` one character, anything else itself. */
export function globMatcher(pattern: string): (channel: string) => boolean {
  const source = [...pattern].map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&"))).join("");
  const re = new RegExp(`^${source}$`, "su");
  return (channel) => re.test(channel);
}
