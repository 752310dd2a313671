import { expect, test } from "bun:test";
import { Fixture, uniqueUser } from "./helpers.ts";

test("with NOTIFIER_TOKENS set, only a listed bearer token may publish", async () => {
  await using f = await Fixture.start({ NOTIFIER_TOKENS: "tok-one, tok-two-longer" });
  const msg = { user_id: uniqueUser(), body: "secret-body-text" };
  for (const token of [undefined, "", "tok", "tok-one-and-more", "TOK-ONE"]) {
    const r = await f.post(msg, token === undefined ? {} : { token });
    expect(r.status).toBe(401);
    expect(r.json.errors[0].message).toContain("token");
  }
  const basic = await fetch(`${f.svc.http}/notifications`, { method: "POST", headers: { "content-type": "application/json", authorization: "Basic dG9rLW9uZQ==" }, body: JSON.stringify(msg) });
  expect(basic.status).toBe(401);
  expect((await f.post(msg, { token: "tok-one" })).status).toBe(202);
  expect((await f.post(msg, { token: "tok-two-longer" })).status).toBe(202);
  // 401 comes before any other check, so nothing about the request leaks to an outsider.
  expect((await f.post("not json", { raw: true, contentType: "text/plain" })).status).toBe(401);
  // Health endpoints and the metrics (counts only, for Prometheus) stay open.
  expect((await fetch(`${f.svc.http}/readyz`)).status).toBe(200);
  expect((await fetch(`${f.svc.http}/metrics`)).status).toBe(200);
  expect(f.svc.logs).not.toContain("tok-one");
  expect(f.svc.logs).not.toContain("secret-body-text");
  expect(f.svc.logs).not.toContain("NOTIFIER_TOKENS is not set");
});

test("without NOTIFIER_TOKENS anyone may publish, and the start-up log warns about it", async () => {
  await using f = await Fixture.start();
  expect((await f.post({ user_id: uniqueUser(), body: "x" })).status).toBe(202);
  expect(f.svc.logs).toContain("NOTIFIER_TOKENS is not set");
});
