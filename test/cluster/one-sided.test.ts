// A node gone on one side only: node a stops hearing b's heartbeats (the NATS server, its
// config reloaded, now refuses b's publishes on smsg.hb) and drops b, while b still hears a
// and still routes to it. A message from alice on b to bob on a, sent in that state, must
// not wait for the sender node's 120 s transfer-idle limit: a answers the DELIVER with
// SEND_FAILED `aborted`, alice's outbox retries, a learns b again from the routes, and the
// message arrives, once, within seconds.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Scratch, inbox, ok, outbox, passwordFile, startClient, waitConnected, waitFor, type RelayHandle } from "../support/harness.ts";
import { NATS_PASSWORD, RELAY_PERMISSIONS, startNats, type NatsServer } from "../support/nats.ts";
import { registerVia, startNode } from "./support.ts";

const s = new Scratch();
let nats: NatsServer;
let a: RelayHandle;
let b: RelayHandle;
const pw: Record<string, string> = {};

/** Node b logs in to NATS as its own user, so that its permissions alone can change. */
const B_USER = "smsgb";
const bUser = (permissions: string): string => `{ user: ${B_USER}, password: "${NATS_PASSWORD}", permissions: ${permissions} }`;
const NO_HEARTBEATS = RELAY_PERMISSIONS.replace(/publish: (\[[^\]]*\])/, 'publish: { allow: $1, deny: ["smsg.hb"] }');

const logged = (n: RelayHandle, re: RegExp): boolean => n.proc.lines.some((l) => re.test(l));

beforeAll(async () => {
  expect(NO_HEARTBEATS).toContain('deny: ["smsg.hb"]');
  nats = s.track(await startNats({ dir: s.path("nats"), extraUsers: bUser(RELAY_PERMISSIONS) }));
  a = s.track(await startNode({ root: s.root, name: "a", nats: [nats.url] }));
  b = s.track(await startNode({ root: s.root, name: "b", nats: [nats.url], keyFrom: a.dataDir, natsUser: B_USER }));
  for (const u of ["alice", "bob"]) {
    pw[u] = passwordFile(s.path("pw"), u, `${u} one-sided ${randomBytes(4).toString("hex")}`);
    await registerVia(a.dataDir, u, pw[u]!);
  }
});

afterAll(() => s.cleanup());

async function send(subject: string): Promise<string> {
  const out = await ok(["send", "--data", s.path("alice"), "--to", "bob", "--subject", subject, "--body", "x"]);
  return out.match(/[0-9a-f]{32}/)![0]!;
}

const delivered = async (id: string) => (await outbox(s.path("alice"))).find((m) => m.id === id && m.flags === "S");

test("a DELIVER from a node that dropped out of the recipient node's view fails at once, is retried and arrives once", async () => {
  s.track(await startClient({ user: "bob", server: `127.0.0.1:${a.port}`, dataDir: s.path("bob"), passwordFile: pw.bob!, relayKey: a.key }));
  s.track(await startClient({ user: "alice", server: `127.0.0.1:${b.port}`, dataDir: s.path("alice"), passwordFile: pw.alice!, relayKey: a.key }));
  await waitConnected(s.path("alice"));
  await waitConnected(s.path("bob"));
  const first = await send("before");
  await waitFor("the first message delivered", () => delivered(first), 20_000, 100);

  // b's heartbeats stop reaching NATS: a drops b after 4 s; b keeps a (a's still arrive).
  const reloads = nats.lines.filter((l) => l.includes("Reloaded server configuration")).length;
  writeFileSync(nats.conf, readFileSync(nats.conf, "utf8").replace(bUser(RELAY_PERMISSIONS), bUser(NO_HEARTBEATS)));
  nats.proc.kill("SIGHUP");
  await waitFor("nats-server to reload", () => nats.lines.filter((l) => l.includes("Reloaded server configuration")).length > reloads, 10_000, 50);
  await waitFor("a to drop b", () => logged(a, /node-gone node=b\b/), 15_000, 50);
  expect(logged(b, /node-gone node=a\b/)).toBe(false);

  const t0 = Date.now();
  const id = await send("while a does not see b");
  await waitFor("the message delivered within seconds", () => delivered(id), 15_000, 100);
  const took = Date.now() - t0;
  expect(took).toBeLessThan(15_000);
  // a held b again from its routes alone (no heartbeat of b reaches it): the views converged.
  const gone = a.proc.lines.findIndex((l) => /node-gone node=b\b/.test(l));
  const after = a.proc.lines.slice(gone);
  expect(after.some((l) => /node-unknown-routes node=b\b/.test(l))).toBe(true);
  expect(after.some((l) => /node-joined node=b\b/.test(l))).toBe(true);
  expect(logged(b, /node-gone node=a\b/)).toBe(false); // still one-sided: b never dropped a
  await waitFor("bob to have it", async () => (await inbox(s.path("bob"))).some((m) => m.id === id), 10_000, 100);
  expect((await inbox(s.path("bob"))).filter((m) => m.id === id)).toHaveLength(1);
}, 90_000);
