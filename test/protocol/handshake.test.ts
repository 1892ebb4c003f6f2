// smsg's handshake module (SPEC.md §2.3, §3.1) on its own, no sockets: the Noise_XX layer
// against the cacophony vector (which half of Split() goes which way), SPEC's worked example
// (Appendix A record sizes, Appendix B.4 payload bytes), and what either side must refuse.

import { describe, expect, test } from "bun:test";
import {
  ClientHandshake,
  PREAMBLE,
  RelayHandshake,
  XxInitiator,
  XxResponder,
  type XxKeys,
} from "../../src/protocol/handshake.ts";
import { encode } from "../../src/protocol/transport.ts";
import { concat } from "../../src/protocol/framing.ts";
import { x25519PublicKey, type KeyPair } from "../../src/protocol/primitives.ts";
import { expectCode, hex, loadVectors, toHex } from "./vectors.ts";

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

function relay(o: Partial<{ relayKey: KeyPair; e: KeyPair }> = {}): RelayHandshake {
  return new RelayHandshake({ relayKey: o.relayKey ?? RELAY, ...LIMITS, e: o.e ?? fill(0x65) });
}

function client(): ClientHandshake {
  return new ClientHandshake({ login: ALICE, e: fill(0x45) });
}

/** The relay's answer to the first record, when it is message 2. */
function message2(r: RelayHandshake, first: Uint8Array): Uint8Array {
  const answer = r.readFirst(first);
  if (answer.kind !== "message2") throw new Error(`expected message 2, got ${answer.kind}`);
  return answer.record;
}

describe("the Noise_XX layer against the cacophony vector", () => {
  const v = loadVectors<{ vectors: NoiseVector[] }>("noise.json").vectors.find((x) => x.protocol_name === "Noise_XX_25519_AESGCM_SHA256")!;
  const keys = (s: string, e: string): XxKeys => ({ s: pair(hex(s)), e: pair(hex(e)) });

  test("messages 1-3 byte for byte, then each side's send and receive are the vector's directions", () => {
    expect(v).toBeDefined();
    const i = new XxInitiator(hex(v.init_prologue), keys(v.init_static, v.init_ephemeral));
    const r = new XxResponder(hex(v.resp_prologue), keys(v.resp_static, v.resp_ephemeral));
    const [m1, m2, m3, ...after] = v.messages;

    expect(toHex(i.writeMessage1(hex(m1!.payload)))).toBe(m1!.ciphertext);
    expect(toHex(r.readMessage1(hex(m1!.ciphertext)))).toBe(m1!.payload);
    expect(toHex(r.writeMessage2(hex(m2!.payload)))).toBe(m2!.ciphertext);
    expect(toHex(i.readMessage2(hex(m2!.ciphertext)))).toBe(m2!.payload);
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
  test("records of 37, 109 and 70 bytes; the relay learns alice's login key, alice the relay key", () => {
    const c = client();
    const r = relay();
    const first = c.start();
    expect(first.length).toBe(37);
    // Preamble, then message 1 = the injected ephemeral key and an empty payload in the clear.
    expect(toHex(first)).toBe("534d534701" + toHex(fill(0x45).publicKey));
    const second = message2(r, first);
    expect(second.length).toBe(109);
    const { hello, relayKey } = c.readReply(second, null);
    expect(hello).toEqual({ version: 1, maxMessageBytes: 2 ** 31, heartbeatTimeout: 90 });
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

  test("with an invite message 3 is 97 + len(user) bytes and the relay reads the invite", () => {
    const c = client();
    const r = relay();
    c.readReply(message2(r, c.start()), null);
    const invite = new Uint8Array(32).fill(0x1f);
    const third = c.login("alice", invite);
    expect(third.record.length).toBe(97 + 5);
    expect(r.readLogin(third.record).invite).toEqual(invite);
  });

  test("the payloads are B.4's RelayHello{1, 2147483648, 90} and Login{\"alice\"}, under prologue 534d534701", () => {
    expect(toHex(PREAMBLE)).toBe("534d534701");
    // The relay's message 2, read by a bare initiator with the same prologue.
    const i = new XxInitiator(PREAMBLE, { s: ALICE });
    const r = relay();
    expect(toHex(i.readMessage2(message2(r, concat(PREAMBLE, i.writeMessage1(EMPTY)))))).toBe("0100000000800000000000005a");
    // The client's message 3, read by a bare responder.
    const c = client();
    const bare = new XxResponder(PREAMBLE, { s: RELAY });
    bare.readMessage1(c.start().subarray(5));
    c.readReply(bare.writeMessage2(hex("0100000000800000000000005a")), RELAY.publicKey);
    expect(toHex(bare.readMessage3(c.login("alice").record).payload)).toBe("05616c696365");
  });
});

describe("what the relay refuses in the first record (SPEC.md §2.3, §3.1)", () => {
  test("no preamble, or a short one, is malformed with nothing to answer", () => {
    const body = client().start();
    for (const bad of [EMPTY, body.subarray(0, 4), concat(Uint8Array.of(0x53, 0x4d, 0x53, 0x48, 1), body.subarray(5)), body.subarray(1)]) {
      expectCode(() => relay().readFirst(bad), "malformed");
    }
  });

  test("another version gets the relay's own preamble as the reply, and the handshake is over", () => {
    for (const version of [0, 2, 255]) {
      const r = relay();
      const first = client().start();
      first[4] = version;
      const answer = r.readFirst(first);
      expect(answer).toEqual({ kind: "version-reply", record: PREAMBLE, clientVersion: version });
      // B.4: the version-mismatch reply record is 0005534d534701.
      expect(toHex(concat(Uint8Array.of(0, answer.record.length), answer.record))).toBe("0005534d534701");
      expectCode(() => r.readLogin(new Uint8Array(70)), "handshake");
    }
    // A bare preamble of another version, no Noise message at all, is answered the same way.
    expect(relay().readFirst(Uint8Array.of(0x53, 0x4d, 0x53, 0x47, 9)).kind).toBe("version-reply");
  });

  test("a payload in message 1 is malformed", () => {
    const i = new XxInitiator(PREAMBLE, { s: ALICE });
    expectCode(() => relay().readFirst(concat(PREAMBLE, i.writeMessage1(Uint8Array.of(0)))), "malformed");
  });

  test("a truncated message 1 is malformed", () => {
    const body = client().start();
    for (const length of [5, 6, 36]) expectCode(() => relay().readFirst(body.subarray(0, length)), "malformed");
  });

  test("a truncated or altered message 3 fails: malformed without its keys, bad-tag after", () => {
    for (const [cut, code] of [
      [0, "malformed"],
      [63, "malformed"],
      [69, "bad-tag"],
    ] as const) {
      const c = client();
      const r = relay();
      c.readReply(message2(r, c.start()), null);
      const third = c.login("alice").record;
      expectCode(() => r.readLogin(third.subarray(0, cut)), code);
      expectCode(() => r.readLogin(third), "handshake"); // a failed handshake stays failed
    }
  });

  test("a Login that breaks §1.3 or has trailing bytes is malformed", () => {
    for (const payload of [Uint8Array.of(0), Uint8Array.of(5, 0x41, 0x4c, 0x49, 0x43, 0x45), concat(hex("05616c696365"), Uint8Array.of(1))]) {
      const r = relay();
      const i = new XxInitiator(PREAMBLE, { s: ALICE });
      i.readMessage2(message2(r, concat(PREAMBLE, i.writeMessage1(EMPTY))));
      expectCode(() => r.readLogin(i.writeMessage3(payload).message), "malformed");
    }
  });

  test("steps out of order are refused", () => {
    expectCode(() => relay().readLogin(new Uint8Array(70)), "handshake");
    const r = relay();
    const first = client().start();
    message2(r, first);
    expectCode(() => r.readFirst(first), "handshake");
  });
});

describe("what the client refuses in the relay's first record (SPEC.md §2.3, §3.1, §3.2)", () => {
  test("a version reply naming another version is bad-version, with the relay's version", () => {
    for (const version of [0, 2, 255]) {
      const c = client();
      c.start();
      expectCode(() => c.readReply(Uint8Array.of(0x53, 0x4d, 0x53, 0x47, version), null), "bad-version");
      expect(c.relayVersion).toBe(version);
      expectCode(() => c.login("alice"), "handshake");
    }
  });

  test("a version reply naming the client's own version is malformed", () => {
    const c = client();
    c.start();
    expectCode(() => c.readReply(PREAMBLE, null), "malformed");
    expect(c.relayVersion).toBeUndefined();
  });

  test("a relay key other than the pin is relay-key-changed, and no message 3 can follow", () => {
    const c = client();
    const second = message2(relay({ relayKey: fill(0x66) }), c.start());
    expectCode(() => c.readReply(second, RELAY.publicKey), "relay-key-changed");
    expect(c.relayKey).toEqual(fill(0x66).publicKey); // for the message naming both keys
    expectCode(() => c.login("alice"), "handshake");
  });

  test("the pinned key is accepted", () => {
    const c = client();
    expect(c.readReply(message2(relay(), c.start()), RELAY.publicKey).relayKey).toEqual(RELAY.publicKey);
  });

  test("a truncated or altered message 2 fails: malformed without its keys, bad-tag after", () => {
    for (const [cut, code] of [
      [0, "malformed"],
      [4, "malformed"],
      [6, "malformed"],
      [95, "malformed"],
      [108, "bad-tag"],
    ] as const) {
      const c = client();
      const second = message2(relay(), c.start());
      expectCode(() => c.readReply(second.subarray(0, cut), null), code);
      expectCode(() => c.readReply(second, null), "handshake");
    }
    const c = client();
    const second = message2(relay(), c.start());
    second[50]! ^= 1;
    expectCode(() => c.readReply(second, null), "bad-tag");
  });

  test("a RelayHello with trailing bytes is malformed", () => {
    const c = client();
    const bare = new XxResponder(PREAMBLE, { s: RELAY });
    bare.readMessage1(c.start().subarray(5));
    expectCode(() => c.readReply(bare.writeMessage2(hex("0100000000800000000000005a00")), null), "malformed");
  });

  test("steps out of order are refused", () => {
    const c = client();
    expectCode(() => c.readReply(new Uint8Array(109), null), "handshake");
    expectCode(() => c.login("alice"), "handshake");
    c.start();
    expectCode(() => c.start(), "handshake");
  });
});
