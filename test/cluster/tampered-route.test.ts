// SECURITY.md §15: whoever can publish on the cluster's subjects is the relay, and no more.
// A rogue NATS client with the relays' own credentials publishes a CHUNK with a flipped
// byte on the route subject of a transfer crossing from node one to node two. Node two
// takes it as node one's (nothing there can tell), and bob's client rejects it end to end:
// nothing stored, the sender answered "rejected", never "stored". The same message sent
// untouched is then stored, with the receipt only bob could make.
//
// alice is a raw protocol client so that her CHUNKs wait for the test: the rogue's chunk
// is then the only one of its transfer, with no race against the real one.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Scratch, inbox, passwordFile, startClient, waitConnected, waitFor, type ClientHandle, type RelayHandle } from "../support/harness.ts";
import { NATS_PASSWORD, NATS_USER, startNats, type NatsServer } from "../support/nats.ts";
import { RawClient } from "../support/raw-client.ts";
import { makeImpostor, messagePlaintext, sealAs } from "../support/impostor.ts";
import { natsPasswordFile, registerVia, startNode } from "./support.ts";
import { connectNats } from "../../src/server/cluster/nats-connect.ts";
import { DirectoryReplica } from "../../src/server/cluster/directory-replica.ts";
import { batchSubject, routeSubject, routeWildcard, unescapeUser } from "../../src/server/cluster/subjects.ts";
import { decodeBatch, decodeRouted, encodeRouted, type RouteRecord } from "../../src/server/cluster/route-batch.ts";
import { encodeMessage, type Message, type MessageOf, type SignedSessionKey } from "../../src/protocol/messages.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";

const s = new Scratch();
let nats: NatsServer;
let n1: RelayHandle;
let n2: RelayHandle;
let bob: ClientHandle;
let rogue: NatsConnection;
const aliceLogin = x25519Generate();
/** What the rogue saw on node two's route subjects: the routed messages' types and ids, in order. */
const seen: { from: string; t: Message["t"]; id: Uint8Array | undefined }[] = [];
const sawAll = (from: string, records: RouteRecord[]): void => {
  // A DELIVER crosses as DELIVER_REF, its sender's key named by its signature (SPEC.md §11.2).
  for (const r of records) seen.push("ref" in r ? { from, t: "deliver", id: r.ref.id } : { from, t: r.m.t, id: "id" in r.m ? r.m.id : undefined });
};

beforeAll(async () => {
  nats = s.track(await startNats({ dir: s.path("nats") }));
  n1 = s.track(await startNode({ root: s.root, name: "one", nats: [nats.url], heartbeatTimeout: 120 }));
  n2 = s.track(await startNode({ root: s.root, name: "two", nats: [nats.url], keyFrom: n1.dataDir }));
  const pw = passwordFile(s.path("pw"), "bob", `bob tamper ${randomBytes(4).toString("hex")}`);
  await registerVia(n2.dataDir, "bob", pw);
  // alice logs in with a random login key, written straight into the cluster's directory.
  const nc = await connectNats({ servers: [nats.url], user: NATS_USER, passwordFile: natsPasswordFile(s.root), replicas: 1 }, "test");
  try {
    const dir = await DirectoryReplica.open(nc, 1);
    dir.directory.addAll([{ user: "alice", code: aliceLogin.publicKey }], Date.now());
    await dir.flush();
    dir.close();
  } finally {
    await nc.close();
  }
  bob = s.track(await startClient({ user: "bob", server: `127.0.0.1:${n2.port}`, dataDir: s.path("bob"), passwordFile: pw, relayKey: n1.key }));
  await waitConnected(s.path("bob"));
  // The rogue: the relays' NATS user and password, as anyone holding a node's password file has.
  rogue = await connect({ servers: [nats.url], user: NATS_USER, pass: NATS_PASSWORD });
  // Node one sends alone what it routes alone in a turn, and batches the rest (SPEC.md §11.2).
  rogue.subscribe(routeWildcard("two"), {
    callback: (_e, msg) => {
      const { from, records } = decodeRouted(unescapeUser(msg.subject.slice(msg.subject.lastIndexOf(".") + 1)), msg.data);
      sawAll(from, records);
    },
  });
  rogue.subscribe(batchSubject("two"), {
    callback: (_e, msg) => {
      const { from, records } = decodeBatch(msg.data);
      sawAll(from, records);
    },
  });
  await rogue.flush();
}, 60_000);

afterAll(async () => {
  await rogue?.close();
  await s.cleanup();
});

/** A routed message as node `from` puts it on the wire (SPEC.md §11.2). */
function routed(from: string, m: Message): Uint8Array {
  return encodeRouted(from, encodeMessage(m));
}

test("a CHUNK flipped on the route subject by a rogue NATS client: bob rejects it, nothing stored, the sender never told stored", async () => {
  const { client: alice, status } = await RawClient.login("127.0.0.1", n1.port, "alice", aliceLogin);
  expect(status).toBe("ok");
  const me = makeImpostor("alice"); // alice's identity and session key, as her client would make them
  alice.send({ t: "publishKey", key: me.key });
  let req = 0;
  const bobKey = await waitFor("node one to know bob's key (on node two)", async () => {
    alice.send({ t: "getKey", req: ++req, user: "bob" });
    const k = await alice.next((m) => m.t === "key" && m.req === req);
    return k.t === "key" && k.status === "online" ? k.key : undefined;
  }, 20_000, 200);

  const seal = async (subject: string) => {
    const id = new Uint8Array(randomBytes(16));
    const hex = Buffer.from(id).toString("hex");
    const header = { v: 1, id: hex, from: "alice", to: ["bob"], date: Date.now(), subject, body: `${subject}, the body`, attachments: [] };
    const sealed = await sealAs({ as: me, to: "bob", recipientKey: bobKey as SignedSessionKey, id, plaintext: messagePlaintext(header) });
    const { from: _from, ...rest } = sealed.deliver;
    const send: MessageOf<"send"> = { ...rest, t: "send", to: "bob" };
    return { id, hex, sealed, send };
  };
  const ackOf = async (id: Uint8Array): Promise<MessageOf<"ack">> =>
    (await alice.next((m) => m.t === "ack" && Buffer.from(m.id).equals(Buffer.from(id)), 20_000)) as MessageOf<"ack">;
  const crossed = (id: Uint8Array, t: Message["t"]): boolean => seen.some((x) => x.t === t && x.id !== undefined && Buffer.from(x.id).equals(Buffer.from(id)));

  // 1. alice SENDs; node one routes the DELIVER to node two. alice sends no CHUNK of it.
  const bad = await seal("tampered between nodes");
  expect(bad.sealed.chunks).toHaveLength(1); // one STREAM chunk, the last: all of the ciphertext
  alice.send(bad.send);
  await waitFor("the DELIVER on node two's route subject", () => crossed(bad.id, "deliver") || undefined);
  // 2. The rogue publishes the real CHUNK with one byte flipped, as node one would have sent it.
  const chunk = bad.sealed.chunks[0]!;
  const data = Uint8Array.from(chunk.data);
  data[40]! ^= 0x01;
  rogue.publish(routeSubject("two", "bob"), routed("one", { ...chunk, data }));
  // 3. Node two forwarded it (nothing there can tell it from node one's); bob refused it.
  const ack = await ackOf(bad.id);
  expect(ack.status).toBe("rejected");
  await waitFor("bob's client to log the refusal", () => bob.proc.lines.some((l) => l.includes("dropped message from alice")) || undefined);
  // The only CHUNK of this transfer on the route was the rogue's: no race decided this.
  expect(seen.filter((x) => x.t === "chunk" && x.id !== undefined && Buffer.from(x.id).equals(Buffer.from(bad.id)))).toHaveLength(1);

  // 4. Control: the same message sealed again, sent untouched by alice through node one.
  const good = await seal("untouched between nodes");
  alice.send(good.send);
  for (const c of good.sealed.chunks) alice.send(c);
  const ok = await ackOf(good.id);
  expect(ok.status).toBe("stored");
  expect(Buffer.from(ok.receipt).equals(Buffer.from(good.sealed.receipt))).toBe(true); // only bob can make it
  const box = await waitFor("bob's inbox to hold the untouched message", async () => {
    const b = await inbox(s.path("bob"));
    return b.some((m) => m.id === good.hex) ? b : undefined;
  });
  expect(box.map((m) => m.id)).not.toContain(bad.hex);
  expect(box.map((m) => m.subject)).toEqual(["untouched between nodes"]);
  // Nothing more for the tampered id ever came back as stored.
  expect(alice.inbox.some((m) => m.t === "ack" && Buffer.from(m.id).equals(Buffer.from(bad.id)) && m.status === "stored")).toBe(false);
  alice.raw.framed.close();
}, 90_000);
