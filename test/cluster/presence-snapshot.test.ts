// A node's presence snapshot larger than one NATS message (SPEC.md §11.2, §11.4): on a NATS
// server that takes at most 64 KiB per message, node one holds 240 sessions, each with its
// hybrid session key (~1.8 KB in the snapshot's JSON, ~430 KB in all), before node two
// starts. Node two learns them only from node one's snapshot, which must come in parts.
// And the parts of 10,000 sessions, each within NATS's default 1 MiB.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Scratch, waitFor, type RelayHandle } from "../support/harness.ts";
import { NATS_USER, startNats, type NatsServer } from "../support/nats.ts";
import { RawClient } from "../support/raw-client.ts";
import { natsPasswordFile, startNode } from "./support.ts";
import { connectNats } from "../../src/server/cluster/nats-connect.ts";
import { DirectoryReplica } from "../../src/server/cluster/directory-replica.ts";
import { DEFAULT_MAX_PAYLOAD, snapshotParts, type PresenceEntry } from "../../src/server/cluster/presence-snapshot.ts";
import { ed25519PublicKey, randomBytes, x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";

const SESSIONS = 240;
const MAX_PAYLOAD = 64 * 1024;

const s = new Scratch();
let nats: NatsServer;
let n1: RelayHandle;
const users = Array.from({ length: SESSIONS }, (_, i) => ({ user: `many${i}`, login: x25519Generate() as KeyPair }));
const observer = { user: "watcher", login: x25519Generate() as KeyPair }; // on node two
const held: RawClient[] = [];

// Node one lets one test address hold every session and open them quickly; the raw
// sessions send no heartbeats, so neither node closes them for silence during the test.
const limits = ["--max-connections-per-address", "1000", "--handshakes-burst", "1000"];

beforeAll(async () => {
  nats = s.track(await startNats({ dir: s.path("nats"), maxPayload: MAX_PAYLOAD }));
  n1 = s.track(await startNode({ root: s.root, name: "one", nats: [nats.url], extra: limits, heartbeatTimeout: 300 }));
  // Registered straight into the cluster's directory with random login keys: a password's
  // Argon2id per user would only make the test slow.
  const nc = await connectNats({ servers: [nats.url], user: NATS_USER, passwordFile: natsPasswordFile(s.root), replicas: 1 }, "test");
  try {
    const dir = await DirectoryReplica.open(nc, 1);
    dir.directory.addAll([...users, observer].map((u) => ({ user: u.user, code: u.login.publicKey })), Date.now());
    await dir.flush();
    dir.close();
  } finally {
    await nc.close();
  }
});

afterAll(async () => {
  for (const c of held) c.raw.framed.close();
  await s.cleanup();
});

test("node two sees every one of node one's sessions, whose snapshot exceeds NATS's max_payload", async () => {
  const seed = randomBytes(32);
  const identityPub = ed25519PublicKey(seed);
  for (const u of users) {
    const { client, status } = await RawClient.login("127.0.0.1", n1.port, u.user, u.login);
    expect(status).toBe("ok");
    client.publish(u.user, seed, identityPub);
    held.push(client);
  }
  const who = async (c: RawClient, req: number): Promise<string[]> => {
    c.send({ t: "who", req });
    const r = await c.next((m) => m.t === "whoReply" && m.req === req);
    return r.t === "whoReply" ? r.users : [];
  };
  // Every key published at node one before node two exists.
  await waitFor("node one to list every session", async () => (await who(held[0]!, 1)).length === SESSIONS || undefined, 20_000);

  const n2 = s.track(await startNode({ root: s.root, name: "two", nats: [nats.url], keyFrom: n1.dataDir, heartbeatTimeout: 300 }));
  const { client: watcher, status } = await RawClient.login("127.0.0.1", n2.port, observer.user, observer.login);
  expect(status).toBe("ok");
  watcher.publish(observer.user, seed, identityPub); // WHO is for sessions that have published
  held.push(watcher);
  let seen: string[] = [];
  let req = 100;
  await waitFor(
    `node two to list all ${SESSIONS} of node one's sessions`,
    async () => {
      seen = (await who(watcher, ++req)).filter((u) => u !== observer.user);
      return seen.length === SESSIONS || undefined;
    },
    20_000,
    250,
  ).catch(() => undefined);
  expect(seen.length).toBe(SESSIONS);
  expect(seen).toEqual(users.map((u) => u.user).sort());
  // Node one answered every request without an error (one message would have been refused).
  expect(n1.proc.lines.some((l) => /cluster-message-bad/.test(l))).toBe(false);
}, 120_000);

test("10,000 sessions: parts each within NATS's default max_payload, together the whole snapshot", () => {
  const b64 = (n: number): string => Buffer.from(randomBytes(n)).toString("base64");
  const key = { identityPub: b64(32), sessionPub: b64(32), sessionKemPub: b64(1184), issuedAt: Date.now(), sig: b64(64) };
  const entries: PresenceEntry[] = Array.from({ length: 10_000 }, (_, i) => ({ user: `user.${i}`, at: 1_700_000_000_000 + i, key }));
  const snap = { epoch: "0123456789abcdef", seq: 12_345, users: entries };
  const parts = snapshotParts(snap, DEFAULT_MAX_PAYLOAD);
  expect(parts.length).toBeGreaterThan(10); // ~18 MB: one message would be refused
  const decoded = parts.map((p) => {
    expect(p.length).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD);
    return JSON.parse(new TextDecoder().decode(p)) as { epoch: string; seq: number; part: number; parts: number; users: PresenceEntry[] };
  });
  expect(decoded.map((d) => [d.epoch, d.seq, d.part, d.parts])).toEqual(parts.map((_, i) => [snap.epoch, snap.seq, i, parts.length]));
  expect(decoded.flatMap((d) => d.users)).toEqual(entries);
  // An entry that cannot fit any part is refused, not cut.
  expect(() => snapshotParts(snap, 1024)).toThrow("does not fit a NATS message of 1024");
});
