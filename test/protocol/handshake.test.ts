// smsg's handshake module (SPEC.md §2.3, §3.1) on its own, no sockets: the Noise_XX layer
// against the cacophony vector (which half of Split() goes which way), SPEC's worked example
// (Appendix A record sizes, Appendix B.4 payload bytes), the ML-KEM-768 part of Noise_XXhfs
// (what a relay or a network that strips, swaps or corrupts it gets), and what either side
// must refuse.

import { describe, expect, test } from "bun:test";
import {
  ClientHandshake,
  FIRST_RECORD_LENGTH,
  MESSAGE2_OVERHEAD,
  PREAMBLE,
  RelayHandshake,
  XxInitiator,
  XxResponder,
  type XxKeys,
} from "../../src/protocol/handshake.ts";
import { NATIVE_KEM, type HandshakeKem } from "../../src/protocol/noise.ts";
import { mlkemEncaps, mlkemEphemeralFromSeed, mlkemKeyGen } from "../../src/protocol/mlkem.ts";
import { encode } from "../../src/protocol/transport.ts";
import { concat } from "../../src/protocol/bytes.ts";
import { x25519PublicKey, type KeyPair } from "../../src/protocol/primitives.ts";
import { mlkemEncapsNoble, mlkemKeyGenNoble } from "../support/noble-pq.ts";
import { expectCode, expectCodeAsync, hex, loadVectors, toHex } from "./vectors.ts";

type NoiseVector = {
  protocol_name: string;
  init_prologue: string;
  init_static: string;
  init_ephemeral: string;
  resp_prologue: string;
  resp_static: string;
  resp_ephemeral: string;
  messages: { payload: string; ciphertext: string }[];
};

function pair(secret: Uint8Array): KeyPair {
  return { secretKey: secret, publicKey: x25519PublicKey(secret) };
}

const EMPTY = new Uint8Array(0);
const fill = (byte: number) => pair(new Uint8Array(32).fill(byte));
// Appendix B.1: alice's login key, the Noise static key of her client.
const ALICE = pair(hex("7a30cca8db53308d40c07ddb751117babc4457917b445a9dee009ade7dc81171"));
const RELAY = fill(0x52);
const LIMITS = { maxMessageBytes: 2 ** 31, heartbeatTimeout: 90 };
const HELLO = "0200000000800000000000005a"; // RelayHello{2, 2^31, 90}
/** The client's ML-KEM-768 key pair e1 from a fixed seed d || z: the native key, pinned. */
const KEM_SEED = new Uint8Array(64).fill(0x4b);
const PINNED_E1: HandshakeKem = { ...NATIVE_KEM, generate: () => mlkemEphemeralFromSeed(KEM_SEED) };
/** The relay's encapsulation with a fixed m, through the noble twin (the native one cannot take m). */
const fixedM = (byte: number): HandshakeKem => ({ ...NATIVE_KEM, encapsulate: async (ek) => mlkemEncapsNoble(ek, new Uint8Array(32).fill(byte)) });

function relay(o: Partial<{ relayKey: KeyPair; e: KeyPair; kem: HandshakeKem }> = {}): RelayHandshake {
  return new RelayHandshake({ relayKey: o.relayKey ?? RELAY, ...LIMITS, e: o.e ?? fill(0x65), kem: o.kem });
}

function client(kem: HandshakeKem = PINNED_E1): ClientHandshake {
  return new ClientHandshake({ login: ALICE, e: fill(0x45), kem });
}

/** The relay's answer to the first record, when it is message 2. */
async function message2(r: RelayHandshake, first: Uint8Array): Promise<Uint8Array> {
  const answer = await r.readFirst(first);
  if (answer.kind !== "message2") throw new Error(`expected message 2, got ${answer.kind}`);
  return answer.record;
}

describe("the Noise_XX layer against the cacophony vector", () => {
  const v = loadVectors<{ vectors: NoiseVector[] }>("noise.json").vectors.find((x) => x.protocol_name === "Noise_XX_25519_AESGCM_SHA256")!;
  const keys = (s: string, e: string): XxKeys => ({ s: pair(hex(s)), e: pair(hex(e)) });

  test("messages 1-3 byte for byte, then each side's send and receive are the vector's directions", async () => {
    expect(v).toBeDefined();
    const i = new XxInitiator(hex(v.init_prologue), keys(v.init_static, v.init_ephemeral), "XX");
    const r = new XxResponder(hex(v.resp_prologue), keys(v.resp_static, v.resp_ephemeral), "XX");
    const [m1, m2, m3, ...after] = v.messages;

    expect(toHex(await i.writeMessage1(hex(m1!.payload)))).toBe(m1!.ciphertext);
    expect(toHex(r.readMessage1(hex(m1!.ciphertext)))).toBe(m1!.payload);
    expect(toHex(await r.writeMessage2(hex(m2!.payload)))).toBe(m2!.ciphertext);
    expect(toHex(await i.readMessage2(hex(m2!.ciphertext)))).toBe(m2!.payload);
    expect(i.remoteStatic).toEqual(x25519PublicKey(hex(v.resp_static)));
    const fromInitiator = i.writeMessage3(hex(m3!.payload));
    expect(toHex(fromInitiator.message)).toBe(m3!.ciphertext);
    const atResponder = r.readMessage3(hex(m3!.ciphertext));
    expect(toHex(atResponder.payload)).toBe(m3!.payload);
    expect(atResponder.remoteStatic).toEqual(x25519PublicKey(hex(v.init_static)));

    // Transport messages alternate from the responder (message 4 is the responder's turn).
    expect(after.length).toBeGreaterThanOrEqual(2);
    after.forEach((m, k) => {
      const [sender, receiver] = k % 2 === 0 ? [atResponder.transport, fromInitiator.transport] : [fromInitiator.transport, atResponder.transport];
      expect(toHex(sender.send.encryptWithAd(EMPTY, hex(m.payload)))).toBe(m.ciphertext);
      expect(toHex(receiver.receive.decryptWithAd(EMPTY, hex(m.ciphertext)))).toBe(m.payload);
    });
  });
});

describe("SPEC.md's worked example (Appendix A, B.4)", () => {
  test("records of 1221, 1213 and 70 bytes; the relay learns alice's login key, alice the relay key", async () => {
    const c = client();
    const r = relay();
    const first = await c.start();
    expect(first.length).toBe(1221);
    expect(FIRST_RECORD_LENGTH).toBe(1221);
    // Preamble, then message 1 = the injected ephemeral key, the ML-KEM key e1 (noble's, from
    // the same seed: the native and the reference agree) and an empty payload, in the clear.
    expect(toHex(first)).toBe("534d534702" + toHex(fill(0x45).publicKey) + toHex(mlkemKeyGenNoble(KEM_SEED).encapsulationKey));
    const second = await message2(r, first);
    expect(second.length).toBe(1213);
    expect(MESSAGE2_OVERHEAD + 13).toBe(1213);
    const { hello, relayKey } = await c.readReply(second, null);
    expect(hello).toEqual({ version: 2, maxMessageBytes: 2 ** 31, heartbeatTimeout: 90 });
    expect(relayKey).toEqual(RELAY.publicKey);
    const third = c.login("alice");
    expect(third.record.length).toBe(70);
    const login = r.readLogin(third.record);
    expect(login.user).toBe("alice");
    expect(login.invite).toBeUndefined();
    expect(login.loginKey).toEqual(ALICE.publicKey);

    // Then LOGIN_RESULT ok "" is 20 bytes, and each Transport's send is the other's receive.
    const [result] = login.transport.sealAll([encode({ t: "loginResult", status: "ok", reason: "" })]);
    const resultBody = concat(...result!);
    expect(resultBody.length).toBe(20);
    expect(third.transport.open(resultBody)).toEqual([{ t: "loginResult", status: "ok", reason: "" }]);
    const [beat] = third.transport.sealAll([encode({ t: "heartbeat" })]);
    expect(login.transport.open(concat(...beat!))).toEqual([{ t: "heartbeat" }]);
  });

  test("with an invite message 3 is 97 + len(user) bytes and the relay reads the invite", async () => {
    const c = client();
    const r = relay();
    await c.readReply(await message2(r, await c.start()), null);
    const invite = new Uint8Array(32).fill(0x1f);
    const third = c.login("alice", invite);
    expect(third.record.length).toBe(97 + 5);
    expect(r.readLogin(third.record).invite).toEqual(invite);
  });

  test("the payloads are B.4's RelayHello{2, 2147483648, 90} and Login{\"alice\"}, under prologue 534d534702", async () => {
    expect(toHex(PREAMBLE)).toBe("534d534702");
    // The relay's message 2, read by a bare initiator with the same prologue.
    const i = new XxInitiator(PREAMBLE, { s: ALICE });
    const r = relay();
    expect(toHex(await i.readMessage2(await message2(r, concat(PREAMBLE, await i.writeMessage1(EMPTY)))))).toBe(HELLO);
    // The client's message 3, read by a bare responder.
    const c = client();
    const bare = new XxResponder(PREAMBLE, { s: RELAY });
    bare.readMessage1((await c.start()).subarray(5));
    await c.readReply(await bare.writeMessage2(hex(HELLO)), RELAY.publicKey);
    expect(toHex(bare.readMessage3(c.login("alice").record).payload)).toBe("05616c696365");
  });
});

describe("keys read from a record are the handshake's own", () => {
  test("a relay whose record buffer (a Buffer, as the socket gives it) is reused after message 1 still finishes the same handshake", async () => {
    // Buffer's slice is a view: a key kept as one would change with the buffer.
    const c = client();
    const r = relay();
    const record = Buffer.from(await c.start());
    const answer = r.readFirst(record);
    record.fill(0);
    const second = await answer;
    if (second.kind !== "message2") throw new Error("no message 2");
    const { hello } = await c.readReply(second.record, RELAY.publicKey);
    expect(hello.version).toBe(2);
    const third = Buffer.from(c.login("alice").record);
    const { user, loginKey } = r.readLogin(third);
    expect(user).toBe("alice");
    expect(toHex(loginKey)).toBe(toHex(ALICE.publicKey));
  });
});

describe("the ML-KEM part of Noise_XXhfs (SPEC.md §3.1): no classical handshake to fall back to", () => {
  /** A full handshake; the client's transport's first HEARTBEAT record, which depends on every key. */
  async function run(c: ClientHandshake, r: RelayHandshake): Promise<{ second: Uint8Array; third: Uint8Array; beat: string }> {
    const second = await message2(r, await c.start());
    await c.readReply(second, null);
    const third = c.login("alice");
    r.readLogin(third.record);
    return { second, third: third.record, beat: toHex(concat(...third.transport.sealAll([encode({ t: "heartbeat" })])[0]!)) };
  }

  test("the KEM output is mixed in: the same X25519 keys with another encapsulation give other keys after ekem1", async () => {
    const a = await run(client(), relay({ kem: fixedM(0x01) }));
    const b = await run(client(), relay({ kem: fixedM(0x02) }));
    const again = await run(client(), relay({ kem: fixedM(0x01) }));
    expect(again).toEqual(a); // all else is pinned: only the KEM changed below
    expect(toHex(a.second.subarray(0, 32))).toBe(toHex(b.second.subarray(0, 32))); // the relay's e
    // Everything encrypted after MixKey(kem_output): s, the RelayHello, message 3, the transport.
    expect(toHex(a.second.subarray(32 + 1104))).not.toBe(toHex(b.second.subarray(32 + 1104)));
    expect(toHex(a.third)).not.toBe(toHex(b.third));
    expect(a.beat).not.toBe(b.beat);
  });

  test("the relay refuses a message 1 without e1 (a classical one under version 2), before any KEM work", async () => {
    const plain = new XxInitiator(PREAMBLE, { s: ALICE }, "XX");
    const classical = concat(PREAMBLE, await plain.writeMessage1(EMPTY));
    expect(classical.length).toBe(37);
    await expectCodeAsync(() => relay().readFirst(classical), "malformed");
    // Cut anywhere inside e1, too.
    const first = await client().start();
    for (const length of [38, 37 + 1183]) await expectCodeAsync(() => relay().readFirst(first.subarray(0, length)), "malformed");
  });

  test("the relay refuses an e1 that is not an ML-KEM key (coefficients not reduced mod q)", async () => {
    const first = await client().start();
    first.fill(0xff, 37);
    await expectCodeAsync(() => relay().readFirst(first), "malformed");
  });

  test("the client refuses a message 2 without the ciphertext: a classical XX answer, short or padded to size", async () => {
    for (const payload of [hex(HELLO), new Uint8Array(1104 + 13)]) {
      const c = client();
      const stripped = new XxResponder(PREAMBLE, { s: RELAY }, "XX");
      stripped.readMessage1((await c.start()).subarray(5)); // e1 read as a payload and ignored
      const second = await stripped.writeMessage2(payload);
      await expectCodeAsync(() => c.readReply(second, null), payload.length === 13 ? "malformed" : "bad-tag");
      expect(c.relayKey).toBeUndefined(); // not even the relay key was learned
      expectCode(() => c.login("alice"), "handshake");
    }
  });

  test("the client refuses a ciphertext for another ML-KEM key, or one altered before encryption", async () => {
    const other = await mlkemKeyGen();
    const swap: HandshakeKem = { ...NATIVE_KEM, encapsulate: () => mlkemEncaps(other.encapsulationKey) };
    const corrupt: HandshakeKem = {
      ...NATIVE_KEM,
      encapsulate: async (ek) => {
        const honest = await mlkemEncaps(ek);
        honest.ciphertext[1087]! ^= 0x80;
        return honest;
      },
    };
    for (const kem of [swap, corrupt]) {
      const c = client();
      const second = await message2(relay({ kem }), await c.start());
      // Implicit rejection gives another KEM output: the key that encrypts s differs.
      await expectCodeAsync(() => c.readReply(second, null), "bad-tag");
      expectCode(() => c.login("alice"), "handshake");
    }
  });
});

describe("what the relay refuses in the first record (SPEC.md §2.3, §3.1)", () => {
  test("no preamble, or a short one, is malformed with nothing to answer", async () => {
    const body = await client().start();
    for (const bad of [EMPTY, body.subarray(0, 4), concat(Uint8Array.of(0x53, 0x4d, 0x53, 0x48, 2), body.subarray(5)), body.subarray(1)]) {
      await expectCodeAsync(() => relay().readFirst(bad), "malformed");
    }
  });

  test("another version gets the relay's own preamble as the reply, and the handshake is over", async () => {
    for (const version of [0, 1, 3, 255]) {
      const r = relay();
      const first = await client().start();
      first[4] = version;
      const answer = await r.readFirst(first);
      expect(answer).toEqual({ kind: "version-reply", record: PREAMBLE, clientVersion: version });
      // B.4: the version-mismatch reply record is 0005534d534702.
      expect(toHex(concat(Uint8Array.of(0, answer.record.length), answer.record))).toBe("0005534d534702");
      expectCode(() => r.readLogin(new Uint8Array(70)), "handshake");
    }
    // A version-1 client's first record (37 bytes, no e1), and a bare preamble, are answered the same way.
    expect((await relay().readFirst(concat(Uint8Array.of(0x53, 0x4d, 0x53, 0x47, 1), fill(0x45).publicKey))).kind).toBe("version-reply");
    expect((await relay().readFirst(Uint8Array.of(0x53, 0x4d, 0x53, 0x47, 9))).kind).toBe("version-reply");
  });

  test("a payload in message 1 is malformed", async () => {
    const i = new XxInitiator(PREAMBLE, { s: ALICE });
    await expectCodeAsync(async () => relay().readFirst(concat(PREAMBLE, await i.writeMessage1(Uint8Array.of(0)))), "malformed");
  });

  test("a truncated message 1 is malformed", async () => {
    const body = await client().start();
    for (const length of [5, 6, 36, 1220]) await expectCodeAsync(() => relay().readFirst(body.subarray(0, length)), "malformed");
  });

  test("a truncated or altered message 3 fails: malformed without its keys, bad-tag after", async () => {
    for (const [cut, code] of [
      [0, "malformed"],
      [63, "malformed"],
      [69, "bad-tag"],
    ] as const) {
      const c = client();
      const r = relay();
      await c.readReply(await message2(r, await c.start()), null);
      const third = c.login("alice").record;
      expectCode(() => r.readLogin(third.subarray(0, cut)), code);
      expectCode(() => r.readLogin(third), "handshake"); // a failed handshake stays failed
    }
  });

  test("a Login that breaks §1.3 or has trailing bytes is malformed", async () => {
    for (const payload of [Uint8Array.of(0), Uint8Array.of(5, 0x41, 0x4c, 0x49, 0x43, 0x45), concat(hex("05616c696365"), Uint8Array.of(1))]) {
      const r = relay();
      const i = new XxInitiator(PREAMBLE, { s: ALICE });
      await i.readMessage2(await message2(r, concat(PREAMBLE, await i.writeMessage1(EMPTY))));
      expectCode(() => r.readLogin(i.writeMessage3(payload).message), "malformed");
    }
  });

  test("steps out of order are refused, also while the first is still encapsulating", async () => {
    expectCode(() => relay().readLogin(new Uint8Array(70)), "handshake");
    const r = relay();
    const first = await client().start();
    const pending = message2(r, first);
    await expectCodeAsync(() => r.readFirst(first), "handshake");
    expectCode(() => r.readLogin(new Uint8Array(70)), "handshake");
    await pending;
    await expectCodeAsync(() => r.readFirst(first), "handshake");
  });
});

describe("what the client refuses in the relay's first record (SPEC.md §2.3, §3.1, §3.2)", () => {
  test("a version reply naming another version is bad-version, with the relay's version", async () => {
    for (const version of [0, 1, 3, 255]) {
      const c = client();
      await c.start();
      await expectCodeAsync(() => c.readReply(Uint8Array.of(0x53, 0x4d, 0x53, 0x47, version), null), "bad-version");
      expect(c.relayVersion).toBe(version);
      expectCode(() => c.login("alice"), "handshake");
    }
  });

  test("a version reply naming the client's own version is malformed", async () => {
    const c = client();
    await c.start();
    await expectCodeAsync(() => c.readReply(PREAMBLE, null), "malformed");
    expect(c.relayVersion).toBeUndefined();
  });

  test("a relay key other than the pin is relay-key-changed, and no message 3 can follow", async () => {
    const c = client();
    const second = await message2(relay({ relayKey: fill(0x66) }), await c.start());
    await expectCodeAsync(() => c.readReply(second, RELAY.publicKey), "relay-key-changed");
    expect(c.relayKey).toEqual(fill(0x66).publicKey); // for the message naming both keys
    expectCode(() => c.login("alice"), "handshake");
  });

  test("the pinned key is accepted", async () => {
    const c = client();
    expect((await c.readReply(await message2(relay(), await c.start()), RELAY.publicKey)).relayKey).toEqual(RELAY.publicKey);
  });

  test("a truncated or altered message 2 fails: malformed without its keys, bad-tag after", async () => {
    for (const [cut, code] of [
      [0, "malformed"],
      [4, "malformed"],
      [6, "malformed"],
      [109, "malformed"], // a classical message 2's length
      [1199, "malformed"],
      [1212, "bad-tag"],
    ] as const) {
      const c = client();
      const second = await message2(relay(), await c.start());
      await expectCodeAsync(() => c.readReply(second.subarray(0, cut), null), code);
      await expectCodeAsync(() => c.readReply(second, null), "handshake");
    }
    for (const at of [50, 32 + 1104 + 10]) {
      // In the encrypted ciphertext, and in the encrypted s.
      const c = client();
      const second = await message2(relay(), await c.start());
      second[at]! ^= 1;
      await expectCodeAsync(() => c.readReply(second, null), "bad-tag");
    }
  });

  test("a RelayHello with trailing bytes is malformed", async () => {
    const c = client();
    const bare = new XxResponder(PREAMBLE, { s: RELAY });
    bare.readMessage1((await c.start()).subarray(5));
    await expectCodeAsync(async () => c.readReply(await bare.writeMessage2(hex(HELLO + "00")), null), "malformed");
  });

  test("steps out of order are refused, also while one is under way", async () => {
    const c = client();
    await expectCodeAsync(() => c.readReply(new Uint8Array(1213), null), "handshake");
    expectCode(() => c.login("alice"), "handshake");
    const pending = c.start();
    await expectCodeAsync(() => c.start(), "handshake");
    await pending;
    await expectCodeAsync(() => c.start(), "handshake");
  });
});
