// Batched routing between nodes (SPEC.md §11.2) on a real nats-server: two NatsHubs in this
// process, with stand-ins for sessions at their ends. What one node routes to another in
// one turn crosses as one NATS message; a node that publishes each message alone (as nodes
// did before batches) and one that batches understand each other; routed messages go
// before a presence change made after them; a malformed batch is dropped whole; a DELIVER
// crosses as DELIVER_REF when its key is the one its sender's node announced.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Scratch, waitFor } from "../support/harness.ts";
import { NATS_PASSWORD, NATS_USER, startNats, type NatsServer } from "../support/nats.ts";
import { NatsHub } from "../../src/server/cluster/nats-hub.ts";
import { RemoteEnd } from "../../src/server/cluster/remote-end.ts";
import { decodeBatch, encodeBatch, encodeDeliverRef, type RouteRecord } from "../../src/server/cluster/route-batch.ts";
import type { Writer } from "../../src/protocol/codec.ts";
import { batchSubject, PRESENCE, routeWildcard } from "../../src/server/cluster/subjects.ts";
import { silentLog } from "../../src/server/log.ts";
import { fakeSessionKey, openTransfer, standInCore, StandInEnd } from "../support/stand-in-hub.ts";
import { decodeMessage, encodeMessage, idHex, SendInPlace, type Message, type MessageOf } from "../../src/protocol/messages.ts";

const s = new Scratch();
let nats: NatsServer;
const conns: NatsConnection[] = [];
const hubs: NatsHub[] = [];

/** A session's stand-in that keeps what the hub posts to it, and the encodings it is given. */
class End extends StandInEnd {
  readonly got: Message[];
  readonly encodings: (Uint8Array | undefined)[] = [];
  constructor(user: string) {
    const got: Message[] = [];
    super(user, (m) => got.push(m), fakeSessionKey(), "test");
    this.got = got;
  }
  override post(m: Message, encoded?: Writer): boolean {
    this.encodings.push(encoded?.finish());
    return super.post(m);
  }
}

async function natsConn(): Promise<NatsConnection> {
  const nc = await connect({ servers: [nats.url], user: NATS_USER, pass: NATS_PASSWORD });
  conns.push(nc);
  return nc;
}

/** Two nodes that have heard of each other, alice on the first and bob on the second. */
async function pair(tag: string, batchA: boolean, batchB: boolean) {
  const a = new NatsHub(await natsConn(), `a${tag}`, silentLog, { batch: batchA });
  const b = new NatsHub(await natsConn(), `b${tag}`, silentLog, { batch: batchB });
  hubs.push(a, b);
  a.bind(standInCore);
  b.bind(standInCore);
  // Users of their own: the nodes of earlier tests are still up, and see them too.
  const alice = new End(`alice${tag}`);
  const bob = new End(`bob.smith${tag}`);
  a.attach(alice);
  b.attach(bob);
  await waitFor("each node to see the other's user", () => a.find(bob.user) instanceof RemoteEnd && b.find(alice.user) instanceof RemoteEnd);
  return { a, b, alice, bob, toBob: a.find(bob.user) as RemoteEnd };
}

/** What the relay does at the sender's node for a SEND to a user on another node. */
function send(from: End, to: RemoteEnd, size = 100): Uint8Array {
  const { id } = openTransfer(from, to, size);
  to.post({ t: "deliver", id, from: from.user, size, senderKey: from.sessionKey, recipientSessionPub: to.sessionKey!.sessionPub, enc: randomBytes(32), kemCiphertext: randomBytes(1088) });
  to.post({ t: "chunk", id, seq: 0, last: true, data: new Uint8Array(size).fill(id[0]!) });
  return id;
}

/** What the relay does at the recipient's node when its user ACKs. */
function ackAll(bob: End): void {
  for (const t of [...bob.incoming.values()]) {
    standInCore.endTransfer(t);
    t.from.post({ t: "ack", id: t.id, status: "stored", receipt: new Uint8Array(32) });
  }
}

const ids = (ms: Message[], t: Message["t"]): string[] => ms.filter((m) => m.t === t).map((m) => idHex((m as MessageOf<"ack">).id));

beforeAll(async () => {
  nats = s.track(await startNats({ dir: s.path("nats") }));
}, 30_000);

afterAll(async () => {
  for (const h of hubs) h.stop();
  for (const c of conns) await c.close();
  await s.cleanup();
});

test("three messages routed in one turn cross as one NATS message, in order, and their ACKs come back as one", async () => {
  const { a, b, alice, bob, toBob } = await pair("1", true, true);
  const watch = await natsConn();
  const toB: number[] = [];
  const toA: number[] = [];
  watch.subscribe(batchSubject(b.node), { callback: (_e, m) => void toB.push(decodeBatch(m.data).records.length) });
  watch.subscribe(routeWildcard(b.node), { callback: () => void toB.push(1) });
  watch.subscribe(batchSubject(a.node), { callback: (_e, m) => void toA.push(decodeBatch(m.data).records.length) });
  watch.subscribe(routeWildcard(a.node), { callback: () => void toA.push(1) });
  await watch.flush();
  const sent = [send(alice, toBob), send(alice, toBob), send(alice, toBob)].map(idHex);
  await waitFor("bob to get three messages", () => ids(bob.got, "chunk").length === 3 || undefined);
  expect(ids(bob.got, "deliver")).toEqual(sent);
  expect(ids(bob.got, "chunk")).toEqual(sent);
  expect(bob.got.map((m) => m.t)).toEqual(["deliver", "chunk", "deliver", "chunk", "deliver", "chunk"]);
  ackAll(bob);
  await waitFor("alice to get three ACKs", () => ids(alice.got, "ack").length === 3 || undefined);
  expect(ids(alice.got, "ack")).toEqual(sent);
  await watch.flush();
  expect(toB).toEqual([6]);
  expect(toA).toEqual([3]);
  expect(alice.outgoing.size).toBe(0);
});

test("a node that sends each message alone and a node that batches route to each other", async () => {
  const { alice, bob, toBob } = await pair("2", false, true);
  const sent = [send(alice, toBob), send(alice, toBob)].map(idHex);
  await waitFor("bob to get both messages", () => ids(bob.got, "chunk").length === 2 || undefined);
  expect(ids(bob.got, "chunk")).toEqual(sent);
  ackAll(bob); // batched on the way back
  await waitFor("alice to get both ACKs", () => ids(alice.got, "ack").length === 2 || undefined);
  expect(ids(alice.got, "ack")).toEqual(sent);
});

test("an ACK routed just before its user leaves reaches the sender before the presence change does", async () => {
  const { a, b, alice, bob, toBob } = await pair("3", true, true);
  const watch = await natsConn();
  const order: string[] = [];
  watch.subscribe(PRESENCE, { callback: (_e, m) => void (m.json<{ node: string }>().node === b.node && order.push("presence")) });
  watch.subscribe(batchSubject(a.node), { callback: () => void order.push("route") });
  watch.subscribe(routeWildcard(a.node), { callback: () => void order.push("route") });
  await watch.flush();
  const id = idHex(send(alice, toBob));
  await waitFor("bob to get the message", () => ids(bob.got, "chunk").length === 1 || undefined);
  ackAll(bob); // queued for the end of this turn...
  b.detach(bob); // ...and bob leaves in the same turn
  await waitFor("alice to hear of the message", () => alice.got.find((m) => m.t === "ack" || m.t === "sendFailed"));
  expect(alice.got.filter((m) => m.t === "ack" || m.t === "sendFailed").map((m) => [m.t, idHex((m as MessageOf<"ack">).id)])).toEqual([["ack", id]]);
  await waitFor("node a to see bob gone", () => a.find(bob.user) === undefined || undefined);
  expect(order).toEqual(["route", "presence"]);
});

test("a malformed batch is dropped whole: none of its records is acted on", async () => {
  const { b, alice, bob, toBob } = await pair("4", true, true);
  const rogue = await natsConn();
  const id = new Uint8Array(randomBytes(16));
  const deliver: Message = { t: "deliver", id, from: alice.user, size: 10, senderKey: alice.sessionKey, recipientSessionPub: toBob.sessionKey!.sessionPub, enc: randomBytes(32), kemCiphertext: randomBytes(1088) };
  const good = encodeBatch(`a4`, [
    { user: bob.user, body: encodeMessage(deliver) },
    { user: bob.user, body: encodeMessage({ t: "abort", id }) },
  ]);
  rogue.publish(batchSubject(b.node), good.subarray(0, good.length - 1)); // its last record cut short
  rogue.publish(batchSubject(b.node), Uint8Array.from([...good, 0])); // trailing bytes
  // Control, after them in order: the same batch whole is acted on, both records.
  rogue.publish(batchSubject(b.node), good);
  await waitFor("bob to get the control batch's ABORT", () => bob.got.some((m) => m.t === "abort") || undefined);
  expect(bob.got.map((m) => m.t)).toEqual(["deliver", "abort"]);
});

/** Every record routed to node, as it crossed NATS (batches and single messages alike). */
async function tap(node: string): Promise<RouteRecord[]> {
  const watch = await natsConn();
  const seen: RouteRecord[] = [];
  watch.subscribe(batchSubject(node), { callback: (_e, m) => void seen.push(...decodeBatch(m.data).records) });
  await watch.flush();
  return seen;
}

test("a DELIVER crosses as DELIVER_REF, its sender's key named by its signature, and reaches the recipient whole", async () => {
  const { b, alice, bob, toBob } = await pair("5", true, true);
  const seen = await tap(b.node);
  const id = send(alice, toBob);
  await waitFor("bob to get the message", () => ids(bob.got, "chunk").length === 1 || undefined);
  const ref = seen.find((r) => "ref" in r);
  expect(ref && "ref" in ref && idHex(ref.ref.id)).toBe(idHex(id));
  expect(seen.some((r) => "m" in r && r.m.t === "deliver")).toBe(false);
  const deliver = bob.got.find((m) => m.t === "deliver") as MessageOf<"deliver">;
  expect(deliver.senderKey).toEqual(alice.sessionKey);
  // What bob's session would send: the DELIVER's own encoding, the key spliced back in whole.
  expect(bob.encodings[bob.got.indexOf(deliver)]).toEqual(encodeMessage(deliver));
  // 1,320 bytes of key became a 64-byte signature.
  expect(encodeMessage(deliver).length - encodeDeliverRef(deliver).length).toBe(1320 - 64);
});

test("a DELIVER posted as its encoding (the relay's, spliced from a SEND decoded in place) crosses as DELIVER_REF when its key is the announced one, else whole", async () => {
  const { b, alice, bob, toBob } = await pair("5b", true, true);
  const seen = await tap(b.node);
  const sendOf = (id: Uint8Array, senderKey: MessageOf<"send">["senderKey"]) =>
    decodeMessage(encodeMessage({ t: "send", id, to: bob.user, size: 10, senderKey, recipientSessionPub: toBob.sessionKey!.sessionPub, enc: randomBytes(32), kemCiphertext: randomBytes(1088) }), true) as SendInPlace;
  const { id } = openTransfer(alice, toBob, 10);
  const d = sendOf(id, alice.sessionKey!).deliver(alice.user);
  toBob.post(d.m, d.encoded);
  toBob.post({ t: "chunk", id, seq: 0, last: true, data: new Uint8Array(10) }); // two in one turn: a batch, which tap sees
  await waitFor("bob to get the DELIVER", () => bob.got.find((m) => m.t === "deliver"));
  expect(seen.filter((r) => "ref" in r).map((r) => "ref" in r && idHex(r.ref.id))).toEqual([idHex(id)]);
  expect(bob.encodings[0]).toEqual(d.encoded.finish());
  const { id: id2 } = openTransfer(alice, toBob, 10);
  const other = sendOf(id2, fakeSessionKey()).deliver(alice.user);
  toBob.post(other.m, other.encoded);
  toBob.post({ t: "chunk", id: id2, seq: 0, last: true, data: new Uint8Array(10) });
  await waitFor("bob to get the second DELIVER", () => bob.got.filter((m) => m.t === "deliver")[1]);
  expect(seen.filter((r) => "ref" in r)).toHaveLength(1);
  expect(seen.some((r) => "m" in r && r.m.t === "deliver" && idHex(r.m.id) === idHex(id2))).toBe(true);
  expect(bob.encodings[2]).toEqual(other.encoded.finish());
});

test("a DELIVER whose key is not its sender's announced one (mail for a sender since gone) crosses whole", async () => {
  const { b, alice, bob, toBob } = await pair("6", true, true);
  const seen = await tap(b.node);
  const { id } = openTransfer(alice, toBob, 10);
  const other = fakeSessionKey();
  toBob.post({ t: "deliver", id, from: alice.user, size: 10, senderKey: other, recipientSessionPub: toBob.sessionKey!.sessionPub, enc: randomBytes(32), kemCiphertext: randomBytes(1088) });
  await waitFor("bob to get the DELIVER", () => bob.got.find((m) => m.t === "deliver"));
  expect((bob.got[0] as MessageOf<"deliver">).senderKey).toEqual(other);
  expect(seen.filter((r) => "ref" in r)).toHaveLength(0);
});

test("a DELIVER_REF naming a key the node does not hold: SEND_FAILED aborted to the sender, nothing delivered", async () => {
  const { a, b, alice, bob, toBob } = await pair("7", true, true);
  const rogue = await natsConn();
  const { id } = openTransfer(alice, toBob, 10);
  const deliver: MessageOf<"deliver"> = { t: "deliver", id, from: alice.user, size: 10, senderKey: fakeSessionKey(), recipientSessionPub: toBob.sessionKey!.sessionPub, enc: randomBytes(32), kemCiphertext: randomBytes(1088) };
  rogue.publish(batchSubject(b.node), encodeBatch(a.node, [{ user: bob.user, body: encodeDeliverRef(deliver) }]));
  await waitFor("alice to be told", () => alice.got.find((m) => m.t === "sendFailed"));
  expect(alice.got).toEqual([{ t: "sendFailed", id, reason: "aborted" }]);
  expect(bob.got).toEqual([]);
  // Control: the same DELIVER_REF naming alice's announced key is delivered.
  const { id: id2 } = openTransfer(alice, toBob, 10);
  rogue.publish(batchSubject(b.node), encodeBatch(a.node, [{ user: bob.user, body: encodeDeliverRef({ ...deliver, id: id2, senderKey: alice.sessionKey }) }]));
  await waitFor("bob to get the control DELIVER", () => bob.got.find((m) => m.t === "deliver"));
  expect((bob.got[0] as MessageOf<"deliver">).senderKey).toEqual(alice.sessionKey);
});
