// SEND's key checks at the relay (SPEC.md §6.2), which it makes where the fields lie in the
// record (SendInPlace): a SEND naming anything but the key its sender published on this
// connection, or sealed to anything but the recipient's current session key, is refused
// stale-key, whichever field differs; the right one is delivered as the DELIVER it splices.
// A relay in this process, real TCP on loopback, raw protocol clients.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { startRelay, type Relay } from "../../src/server/relay.ts";
import { streamLog } from "../../src/server/log.ts";
import { encodeMessage, type MessageOf, type SignedSessionKey } from "../../src/protocol/messages.ts";
import { tempDir } from "../support/harness.ts";
import { addRelayUsers, loginPublished, type RelayUser } from "../support/relay-users.ts";

const dir = tempDir("smsg-send-checks-");
let relay: Relay;
let users: Map<string, RelayUser>;

beforeAll(async () => {
  users = addRelayUsers(dir, ["alice", "bob"]);
  relay = await startRelay({ listen: [{ host: "127.0.0.1", port: 0 }], dataDir: dir, log: streamLog(() => {}) });
});
afterAll(async () => {
  await relay.stop(0);
  rmSync(dir, { recursive: true, force: true });
});

async function login(user: string) {
  const { c, key } = await loginPublished(relay, users, user);
  return { c, key: key.key };
}

const flip = (b: Uint8Array, i: number): Uint8Array => {
  const c = new Uint8Array(b);
  c[i]! ^= 1;
  return c;
};

test("a SEND whose sender key differs from the published one in any field, or sealed to another recipient key, is refused stale-key; the right one is delivered whole", async () => {
  const a = await login("alice");
  const b = await login("bob");
  const k: SignedSessionKey = a.key;
  const sendOf = (senderKey: SignedSessionKey, recipientSessionPub = b.key.sessionPub): MessageOf<"send"> => ({
    t: "send",
    id: new Uint8Array(randomBytes(16)),
    to: "bob",
    size: 10,
    senderKey,
    recipientSessionPub,
    enc: new Uint8Array(randomBytes(32)),
    kemCiphertext: new Uint8Array(randomBytes(1088)),
  });
  const refused = [
    sendOf({ ...k, identityPub: flip(k.identityPub, 31) }),
    sendOf({ ...k, sessionPub: flip(k.sessionPub, 0) }),
    sendOf({ ...k, sessionKemPub: flip(k.sessionKemPub, 1183) }),
    sendOf({ ...k, issuedAt: k.issuedAt + 1 }),
    sendOf({ ...k, sig: flip(k.sig, 63) }),
    sendOf(k, flip(b.key.sessionPub, 7)),
  ];
  // In one record, as a client batches them: each refused on its own.
  a.c.sendBatch(refused.slice(0, 3));
  a.c.sendBatch(refused.slice(3));
  for (const s of refused) {
    const f = await a.c.next((m) => m.t === "sendFailed" && Buffer.from(m.id).equals(s.id));
    expect(f).toEqual({ t: "sendFailed", id: s.id, reason: "stale-key" });
  }
  const good = sendOf(k);
  a.c.send(good);
  // bob's first DELIVER: one for a refused SEND, sent before, would have come first.
  const d = await b.c.next((m) => m.t === "deliver");
  const { to: _to, ...fields } = good;
  expect(encodeMessage(d)).toEqual(encodeMessage({ ...fields, t: "deliver", from: "alice" }));
});
