// A node gone on one side only: node a stops hearing b's heartbeats (the NATS server, its
// config reloaded, now refuses b's publishes on smsg.hb) and drops b, while b still hears a
// and still routes to it. A message from alice on b to bob on a, sent in that state, must
// not wait for the sender node's 120 s transfer-idle limit: a answers the DELIVER with
// SEND_FAILED `aborted`, alice's outbox retries, a learns b again from the routes, and the
// message arrives, once, within seconds. The same with a transfer in flight (its recipient
// stopped) when a drops b: a ends it and tells b, and alice's resend is the DELIVER refused.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, inbox, ok, outbox, passwordFile, startClient, waitConnected, waitFor, type ClientHandle, type RelayHandle } from "../support/harness.ts";
import { NATS_PASSWORD, RELAY_PERMISSIONS, startNats, type NatsServer } from "../support/nats.ts";
import { registerVia, sendStreaming, startNode } from "./support.ts";

const s = new Scratch();
let nats: NatsServer;
let a: RelayHandle;
let b: RelayHandle;
let bob: ClientHandle;
const pw: Record<string, string> = {};

/** Node b logs in to NATS as its own user, so that its permissions alone can change. */
const B_USER = "smsgb";
const bUser = (permissions: string): string => `{ user: ${B_USER}, password: "${NATS_PASSWORD}", permissions: ${permissions} }`;
const NO_HEARTBEATS = RELAY_PERMISSIONS.replace(/publish: (\[[^\]]*\])/, 'publish: { allow: $1, deny: ["smsg.hb"] }');

const logged = (n: RelayHandle, re: RegExp): boolean => n.proc.lines.some((l) => re.test(l));
const count = (n: RelayHandle, re: RegExp): number => n.proc.lines.filter((l) => re.test(l)).length;

/** Give node b these NATS permissions now, by a config reload. */
async function permitB(from: string, to: string): Promise<void> {
  const reloads = nats.lines.filter((l) => l.includes("Reloaded server configuration")).length;
  writeFileSync(nats.conf, readFileSync(nats.conf, "utf8").replace(bUser(from), bUser(to)));
  nats.proc.kill("SIGHUP");
  await waitFor("nats-server to reload", () => nats.lines.filter((l) => l.includes("Reloaded server configuration")).length > reloads, 10_000, 50);
}

beforeAll(async () => {
  expect(NO_HEARTBEATS).toContain('deny: ["smsg.hb"]');
  nats = s.track(await startNats({ dir: s.path("nats"), extraUsers: bUser(RELAY_PERMISSIONS) }));
  // bob's client is held stopped for a while below: a must not cut him meanwhile.
  a = s.track(await startNode({ root: s.root, name: "a", nats: [nats.url], heartbeatTimeout: 60 }));
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

/** When the last line of n matching re was logged (ms), 0 if none. */
const lastLine = (n: RelayHandle, re: RegExp): number => {
  const l = n.proc.lines.findLast((x) => re.test(x));
  return l ? Date.parse(l.slice(0, l.indexOf(" "))) : 0;
};

const delivered = async (id: string) => (await outbox(s.path("alice"))).find((m) => m.id === id && m.flags === "S");

test("a DELIVER from a node that dropped out of the recipient node's view fails at once, is retried and arrives once", async () => {
  bob = s.track(await startClient({ user: "bob", server: `127.0.0.1:${a.port}`, dataDir: s.path("bob"), passwordFile: pw.bob!, relayKey: a.key }));
  s.track(await startClient({ user: "alice", server: `127.0.0.1:${b.port}`, dataDir: s.path("alice"), passwordFile: pw.alice!, relayKey: a.key }));
  await waitConnected(s.path("alice"));
  await waitConnected(s.path("bob"));
  const first = await send("before");
  await waitFor("the first message delivered", () => delivered(first), 20_000, 100);

  // b's heartbeats stop reaching NATS: a drops b after 4 s; b keeps a (a's still arrive).
  await permitB(RELAY_PERMISSIONS, NO_HEARTBEATS);
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

test("a transfer in flight when one node drops the other: the sender retries and the message arrives once, whole", async () => {
  // b's heartbeats reach a again: a holds b for good.
  await permitB(NO_HEARTBEATS, RELAY_PERMISSIONS);
  const drops = count(a, /node-gone node=b\b/);
  await waitFor("a to hold b again", () => count(a, /node-joined node=b\b/) > 0 && Date.now() - lastLine(a, /node-(joined|gone) node=b\b/) > 5000, 20_000, 100);
  expect(count(a, /node-gone node=b\b/)).toBe(drops);

  const { id, data } = await sendStreaming(s.path("alice"), s.path("bob"), "bob", s.path("big.bin"), "in flight");
  // bob stopped holds the transfer open (no WINDOW from him) while a drops b.
  bob.proc.proc.kill("SIGSTOP");
  const unknown = count(a, /node-unknown-routes node=b\b/);
  try {
    await permitB(RELAY_PERMISSIONS, NO_HEARTBEATS);
    await waitFor("a to drop b", () => count(a, /node-gone node=b\b/) > drops, 15_000, 50);
    expect(await delivered(id)).toBeUndefined();
    // a ended the transfer and told b; alice's retry, 1 s later, reaches a while it does not
    // hold b: a refuses it and, with no heartbeat of b, holds b again from that route alone.
    const joined = count(a, /node-joined node=b\b/);
    await waitFor("a to hold b again from alice's resend", () => count(a, /node-joined node=b\b/) > joined, 10_000, 50);
    expect(count(a, /node-unknown-routes node=b\b/)).toBeGreaterThan(unknown);
    expect(logged(b, /node-gone node=a\b/)).toBe(false);
  } finally {
    bob.proc.proc.kill("SIGCONT");
  }
  await waitFor("the message delivered after the retries", () => delivered(id), 60_000, 200);
  expect((await inbox(s.path("bob"))).filter((m) => m.id === id)).toHaveLength(1);
  const dest = s.path("saved");
  await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
  expect(createHash("sha256").update(readFileSync(join(dest, "big.bin"))).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
}, 240_000);
