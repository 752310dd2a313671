import { TestSocket, metric as readMetric, signToken, waitFor, type ServiceProcess, type TestSystem } from "@rt/testkit";

/** POSTs one notification; returns the answer (throws on anything but 200/202). */
export async function notify(sys: TestSystem, user_id: string, body: string, extra: Record<string, unknown> = {}): Promise<{ id: string; seq: number; epoch?: string; delivered?: boolean }> {
  const r = await fetch(`${sys.notifier!.http}/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id, body, ...extra }),
  });
  if (r.status !== 202 && r.status !== 200) throw new Error(`notifier answered ${r.status}: ${await r.text()}`);
  return (await r.json()) as { id: string; seq: number; epoch?: string; delivered?: boolean };
}

/** Opens `/notifications` for `user` on `gw` with an optional query (`&since=3`). */
export async function inbox(gw: ServiceProcess, user: string, query = ""): Promise<TestSocket> {
  const token = await signToken(user);
  return TestSocket.open(`${gw.ws}/notifications?token=${encodeURIComponent(token)}${query}`);
}

/** The parsed frames a notification socket received. */
export const frames = (s: TestSocket) => s.messages.map((m) => JSON.parse(m) as { id: string; seq: number; epoch: string; body: string });

/** Waits until `svc` answers /readyz with `status`. */
export async function readyIs(svc: ServiceProcess, status: 200 | 503, timeoutMs = 15_000): Promise<void> {
  await waitFor(`${svc.name} /readyz ${status}`, async () => (await fetch(`${svc.http}/readyz`)).status === status, timeoutMs, 50);
}

/** A metric's value on one service (the sum of its samples whose labels contain `labels`). */
export function metric(svc: ServiceProcess, name: string, labels = ""): Promise<number> {
  return readMetric(svc.http, name, labels);
}

export { roomJoined, roomTexts } from "@rt/testkit";
