// Bad input at the relay (SPEC.md §2, §6): whatever one connection sends, only that
// connection is closed; the relay and everyone else carry on. Also duplicate deliveries.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { Scratch, inbox, received, sendMail, type RelayHandle } from "../support/harness.ts";
import { startWorld } from "../support/world.ts";
import { RawClient, RawSocket } from "../support/raw-client.ts";
import { PREAMBLE } from "../../src/protocol/handshake.ts";
import { deriveUserKeys, type UserKeys } from "../../src/protocol/keys.ts";
import { MLKEM768_CT_LENGTH } from "../../src/protocol/mlkem.ts";
import { encodeHeader, sealEnvelopeKey } from "../../src/protocol/envelope.ts";
import { STREAM_CHUNK, StreamSealer, streamCiphertextSize } from "../../src/protocol/stream.ts";
import type { Message } from "../../src/protocol/messages.ts";

const s = new Scratch();
let relay: RelayHandle;
let mallory: UserKeys;

beforeAll(async () => {
  // Passwords of a known text: mallory logs in by hand; clients learn the relay key on first use.
  const w = await startWorld(s, { users: ["alice", "bob", "mallory"], idle: ["mallory"], password: (u) => `${u}-pw`, pinRelayKey: false, relay: { maxMessageMb: 1 } });
  relay = w.relay;
  mallory = await deriveUserKeys("mallory", "mallory-pw");
}, 120_000);
afterAll(() => s.cleanup());

/** The relay still works for everyone else: alice can still reach bob. */
async function relayStillWorks(tag: string): Promise<void> {
  await received(s.path("bob"), await sendMail(s.path("alice"), "bob", `still up ${tag}`, "ok"), 20_000);
}

async function loginMallory(): Promise<{ c: RawClient; session: ReturnType<RawClient["publish"]> }> {
  const { client, status } = await RawClient.login("127.0.0.1", relay.port, "mallory", mallory.login);
  expect(status).toBe("ok");
  const session = client.publish("mallory", mallory.identity.seed, mallory.identity.publicKey);
  return { c: client, session };
}

describe("malformed and oversized input closes only that connection", () => {
  test("garbage before the handshake", async () => {
    for (const bytes of [
      Uint8Array.of(0, 0), // zero-length record
      Uint8Array.of(0, 5, 1, 2, 3, 4, 5), // no SMSG preamble
      new Uint8Array([0, 40, ...PREAMBLE, ...randomBytes(35)]), // preamble, then a short Noise message
    ]) {
      const raw = await RawSocket.connect("127.0.0.1", relay.port);
      raw.writeRaw(bytes);
      await raw.waitClosed();
    }
    await relayStillWorks("garbage");
  });

  test("random records never take the relay down (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 4 }), async (records) => {
        const raw = await RawSocket.connect("127.0.0.1", relay.port);
        for (const r of records) raw.framed.send(r);
        raw.framed.close();
      }),
      { numRuns: 60 },
    );
    await relayStillWorks("fuzz");
  });

  test("a record that fails decryption after login closes that session only", async () => {
    const { c } = await loginMallory();
    c.raw.framed.send(randomBytes(40));
    await c.raw.waitClosed();
    await relayStillWorks("bad-tag");
  });

  test("a batch is acted on item by item, in order (SPEC.md §4.4)", async () => {
    const { c } = await loginMallory();
    c.sendBatch([{ t: "who", req: 5 }, { t: "getKey", req: 6, user: "bob" }, { t: "heartbeat" }]);
    const label = (m: Message) => (m.t === "whoReply" ? `who ${m.req}` : m.t === "key" ? `key ${m.req} ${m.status}` : m.t);
    let order: string[] = [];
    await c.next((m) => m.t === "heartbeat" && ((order = c.inbox.map(label)), true));
    // PREKEY_STATE comes unasked when the session becomes its user's route (SPEC.md §12).
    expect(order.filter((t) => t !== "loginResult" && t !== "presence" && t !== "prekeyState")).toEqual(["who 5", "key 6 online", "heartbeat"]);
    const who = c.inbox.find((m) => m.t === "whoReply");
    expect(who?.t === "whoReply" && who.users).toContain("bob");
    c.raw.framed.close();
  });

  test("a batch with one bad item is refused whole: nothing in it is acted on, ERROR malformed, close", async () => {
    for (const bad of [Uint8Array.of(0x09), Uint8Array.of(0x18, 0, 1, 0), Uint8Array.of(0x00, 0x00)]) {
      const { c } = await loginMallory();
      // BATCH(WHO(7), bad): the WHO comes first and is still not answered.
      c.sendPlaintext(Uint8Array.of(0x18, 0, 5, 0x03, 0, 0, 0, 7, 0, bad.length, ...bad));
      const err = await c.next((m) => m.t === "error");
      expect(err).toMatchObject({ t: "error", code: "malformed" });
      await c.raw.waitClosed();
      expect(c.inbox.some((m) => m.t === "whoReply")).toBe(false);
    }
    await relayStillWorks("bad batch");
  });

  test("an announced size over the relay's limit is refused; chunks beyond the size close the sender", async () => {
    const { c, session } = await loginMallory();
    const keyOfBob = await (async () => {
      c.send({ t: "getKey", req: 1, user: "bob" });
      const k = await c.next((m) => m.t === "key");
      return k.t === "key" ? k.key! : undefined;
    })();
    expect(keyOfBob).toBeDefined();
    const id = randomBytes(16);
    const base = { id, to: "bob", senderKey: session.key, recipientSessionPub: keyOfBob!.sessionPub, enc: randomBytes(32), kemCiphertext: randomBytes(MLKEM768_CT_LENGTH) };
    c.send({ t: "send", ...base, size: c.maxMessageBytes + 1 });
    const failed = await c.next((m) => m.t === "sendFailed");
    expect(failed).toMatchObject({ t: "sendFailed", reason: "too-large" });
    // Announce 100 bytes, then send more than that.
    c.send({ t: "send", ...base, size: 100 });
    c.send({ t: "chunk", id, seq: 0, last: false, data: randomBytes(200) });
    await c.raw.waitClosed();
    await relayStillWorks("oversize");
  });
});

describe("duplicates", () => {
  test("a message id delivered twice is stored once", async () => {
    const { c, session } = await loginMallory();
    c.send({ t: "getKey", req: 7, user: "bob" });
    const k = (await c.next((m) => m.t === "key")) as Extract<Message, { t: "key" }>;
    expect(k.status).toBe("online");
    const id = randomBytes(16);
    const idHex = Buffer.from(id).toString("hex");
    const header = encodeHeader({ v: 1, id: idHex, from: "mallory", to: ["bob"], date: Date.now(), subject: "twice", body: "once", attachments: [] });
    expect(header.length).toBeLessThan(STREAM_CHUNK);
    const acks: string[] = [];
    for (let round = 0; round < 2; round++) {
      // A retry seals afresh (a new HPKE encapsulation), exactly as a real retry would.
      const { enc, kemCiphertext, streamKey } = await sealEnvelopeKey({
        id,
        from: "mallory",
        to: "bob",
        senderSessionSecret: session.session.secretKey,
        recipientSessionPub: k.key!.sessionPub,
        recipientSessionKemPub: k.key!.sessionKemPub,
      });
      const ct = new StreamSealer(streamKey).seal(header, true);
      c.send({ t: "send", id, to: "bob", size: streamCiphertextSize(header.length), senderKey: session.key, recipientSessionPub: k.key!.sessionPub, enc, kemCiphertext });
      c.send({ t: "chunk", id, seq: 0, last: true, data: ct });
      const ack = await c.next((m) => m.t === "ack");
      acks.push(ack.t === "ack" ? ack.status : "?");
    }
    expect(acks).toEqual(["stored", "duplicate"]);
    const copies = (await inbox(s.path("bob"))).filter((m) => m.id === idHex);
    expect(copies).toHaveLength(1);
    expect(copies[0]!.from).toBe("mallory");
  });
});
