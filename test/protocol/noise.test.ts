// Noise rev 34 (SPEC.md "Transport"): the cacophony vectors for every non-psk
// 25519_AESGCM_SHA256 pattern, then the failures a relay must detect, then the hfs tokens
// e1 and ekem1 of XXhfs (SPEC.md §3.1).

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { CipherState, HandshakeState, NOISE_MAX_MESSAGE, NOISE_PROTOCOL } from "../../src/protocol/noise.ts";
import { x25519Generate, x25519PublicKey } from "../../src/protocol/primitives.ts";
import type { KeyPair } from "../../src/protocol/primitives.ts";
import { counterRand, expectCode, hex, loadVectors, toHex } from "./vectors.ts";

type NoiseVector = {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
};

const vectors = loadVectors<{ vectors: NoiseVector[] }>("noise.json").vectors.filter(
  (v) => v.protocol_name.endsWith("_25519_AESGCM_SHA256") && !v.protocol_name.includes("psk"),
);

function pair(secretHex: string | undefined): KeyPair | undefined {
  if (secretHex === undefined) return undefined;
  const secretKey = hex(secretHex);
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}

function opt<T>(key: string, value: T | undefined): Record<string, T> {
  return value === undefined ? {} : { [key]: value };
}

describe("cacophony vectors", () => {
  test("all 10 non-psk AESGCM_SHA256 patterns are present", () => {
    expect(vectors.map((v) => v.protocol_name.split("_")[1]).sort()).toEqual(
      ["IK", "K", "KK", "N", "NK", "NN", "NX", "X", "XK", "XX"],
    );
  });

  for (const v of vectors) {
    test(v.protocol_name, () => {
      const pattern = v.protocol_name.split("_")[1] as string;
      const oneWay = pattern.length === 1;
      const initiator = new HandshakeState({
        pattern,
        initiator: true,
        prologue: hex(v.init_prologue),
        ...opt("s", pair(v.init_static)),
        ...opt("e", pair(v.init_ephemeral)),
        ...opt("rs", v.init_remote_static === undefined ? undefined : hex(v.init_remote_static)),
      });
      const responder = new HandshakeState({
        pattern,
        initiator: false,
        prologue: hex(v.resp_prologue),
        ...opt("s", pair(v.resp_static)),
        ...opt("e", pair(v.resp_ephemeral)),
        ...opt("rs", v.resp_remote_static === undefined ? undefined : hex(v.resp_remote_static)),
      });
      let transport: { init: [CipherState, CipherState]; resp: [CipherState, CipherState] } | undefined;
      v.messages.forEach((m, i) => {
        const fromInitiator = oneWay || i % 2 === 0;
        const payload = hex(m.payload);
        if (!transport) {
          const [writer, reader] = fromInitiator ? [initiator, responder] : [responder, initiator];
          expect(toHex(writer.writeMessage(payload))).toBe(m.ciphertext);
          expect(toHex(reader.readMessage(hex(m.ciphertext)))).toBe(m.payload);
          if (initiator.isFinished()) {
            expect(responder.isFinished()).toBe(true);
            if (v.handshake_hash) {
              expect(toHex(initiator.handshakeHash())).toBe(v.handshake_hash);
              expect(toHex(responder.handshakeHash())).toBe(v.handshake_hash);
            }
            transport = { init: initiator.split(), resp: responder.split() };
          }
        } else {
          // Initiator sends with the first CipherState, the responder with the second.
          const send = fromInitiator ? transport.init[0] : transport.resp[1];
          const recv = fromInitiator ? transport.resp[0] : transport.init[1];
          const empty = new Uint8Array(0);
          expect(toHex(send.encryptWithAd(empty, payload))).toBe(m.ciphertext);
          expect(toHex(recv.decryptWithAd(empty, hex(m.ciphertext)))).toBe(m.payload);
        }
      });
      expect(transport).toBeDefined();
    });
  }
});

const PROLOGUE = new TextEncoder().encode("smsg test");

function xxPair(rand = counterRand(7)) {
  const initiatorStatic = x25519Generate(rand);
  const responderStatic = x25519Generate(rand);
  const initiator = new HandshakeState({ pattern: "XX", initiator: true, prologue: PROLOGUE, s: initiatorStatic, rand });
  const responder = new HandshakeState({ pattern: "XX", initiator: false, prologue: PROLOGUE, s: responderStatic, rand });
  return { initiator, responder, initiatorStatic, responderStatic };
}

function xxMessages(): Uint8Array[] {
  const { initiator, responder } = xxPair();
  const m1 = initiator.writeMessage(new Uint8Array(0));
  responder.readMessage(m1);
  const m2 = responder.writeMessage(Uint8Array.of(1, 2, 3));
  initiator.readMessage(m2);
  const m3 = initiator.writeMessage(Uint8Array.of(4, 5));
  return [m1, m2, m3];
}

/** Replays XX up to message `index`, feeding `replacement` instead; returns the reader's error path. */
function readTampered(index: number, replacement: Uint8Array): () => unknown {
  const { initiator, responder } = xxPair();
  const m1 = initiator.writeMessage(new Uint8Array(0));
  if (index === 0) return () => {
    responder.readMessage(replacement);
    responder.writeMessage(new Uint8Array(0));
  };
  responder.readMessage(m1);
  const m2 = responder.writeMessage(Uint8Array.of(1, 2, 3));
  if (index === 1) return () => initiator.readMessage(replacement);
  initiator.readMessage(m2);
  initiator.writeMessage(Uint8Array.of(4, 5));
  return () => responder.readMessage(replacement);
}

describe("Noise_XX as smsg uses it", () => {
  test("NOISE_PROTOCOL and limits", () => {
    expect(NOISE_PROTOCOL).toBe("Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256");
    expect(NOISE_MAX_MESSAGE).toBe(65535);
  });

  test("handshake and transport round trip, static keys learned, hashes agree", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (p1, p2) => {
        const { initiator, responder, initiatorStatic, responderStatic } = xxPair(counterRand(p1.length + 1));
        expect(responder.readMessage(initiator.writeMessage(new Uint8Array(0)))).toEqual(new Uint8Array(0));
        expect(initiator.readMessage(responder.writeMessage(p1))).toEqual(p1);
        expect(responder.readMessage(initiator.writeMessage(p2))).toEqual(p2);
        expect(initiator.remoteStatic()).toEqual(responderStatic.publicKey);
        expect(responder.remoteStatic()).toEqual(initiatorStatic.publicKey);
        expect(initiator.handshakeHash()).toEqual(responder.handshakeHash());
        const [i2r, r2i] = initiator.split();
        const [ri2r, rr2i] = responder.split();
        expect(ri2r.decryptWithAd(new Uint8Array(0), i2r.encryptWithAd(new Uint8Array(0), p1))).toEqual(p1);
        expect(r2i.decryptWithAd(new Uint8Array(0), rr2i.encryptWithAd(new Uint8Array(0), p2))).toEqual(p2);
      }),
      { numRuns: 30 },
    );
  });

  test("a flipped bit anywhere in an authenticated XX message gives bad-tag", () => {
    const messages = xxMessages();
    messages.forEach((message, index) => {
      // Message 1 is e || cleartext payload: nothing authenticates it yet, and a flipped e
      // only shows as a bad tag on message 2 (the responder's keys then differ).
      const firstAuthenticatedByte = index === 0 ? message.length : 0;
      for (let bit = firstAuthenticatedByte * 8; bit < message.length * 8; bit++) {
        const tampered = Uint8Array.from(message);
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        expectCode(readTampered(index, tampered), "bad-tag");
      }
    });
  });

  test("a flipped bit in message 1's ephemeral key breaks message 2 with bad-tag", () => {
    const { initiator, responder } = xxPair();
    const m1 = initiator.writeMessage(new Uint8Array(0));
    const tampered = Uint8Array.from(m1);
    tampered[5]! ^= 0x10;
    responder.readMessage(tampered);
    expectCode(() => initiator.readMessage(responder.writeMessage(new Uint8Array(0))), "bad-tag");
  });

  test("truncated messages give malformed before any crypto", () => {
    const messages = xxMessages();
    const minimum = [32, 32 + 48 + 16, 48 + 16];
    messages.forEach((message, index) => {
      for (const length of [0, 1, 31, (minimum[index] as number) - 1]) {
        expectCode(readTampered(index, message.subarray(0, length)), "malformed");
      }
    });
  });

  test("a truncated tag fails the tag check", () => {
    const messages = xxMessages();
    expectCode(readTampered(1, (messages[1] as Uint8Array).subarray(0, (messages[1] as Uint8Array).length - 1)), "bad-tag");
  });

  test("messages over 65535 bytes are rejected as too-large", () => {
    expectCode(readTampered(0, new Uint8Array(NOISE_MAX_MESSAGE + 1)), "too-large");
    const { initiator } = xxPair();
    expectCode(() => initiator.writeMessage(new Uint8Array(NOISE_MAX_MESSAGE - 31)), "too-large");
    const ok = xxPair().initiator.writeMessage(new Uint8Array(NOISE_MAX_MESSAGE - 32));
    expect(ok.length).toBe(NOISE_MAX_MESSAGE);
  });

  test("a low-order ephemeral key gives low-order", () => {
    const zero = new Uint8Array(32);
    const one = Uint8Array.of(1, ...new Uint8Array(31));
    for (const point of [zero, one]) {
      // Initiator reads a low-order responder e: ee runs inside readMessage.
      const { initiator } = xxPair();
      initiator.writeMessage(new Uint8Array(0));
      expectCode(() => initiator.readMessage(new Uint8Array([...point, ...new Uint8Array(48 + 16)])), "low-order");
      // Responder reads a low-order initiator e: the first DH with it is in its reply.
      const { responder } = xxPair();
      responder.readMessage(point);
      expectCode(() => responder.writeMessage(new Uint8Array(0)), "low-order");
    }
  });

  test("a failed handshake stays failed; out-of-turn use is refused", () => {
    const { initiator, responder } = xxPair();
    expectCode(() => responder.writeMessage(new Uint8Array(0)), "handshake");
    expectCode(() => initiator.readMessage(new Uint8Array(32)), "handshake");
    expectCode(() => initiator.split(), "handshake");
    const m1 = initiator.writeMessage(new Uint8Array(0));
    responder.readMessage(m1);
    const m2 = responder.writeMessage(new Uint8Array(0));
    const bad = Uint8Array.from(m2);
    bad[40]! ^= 1;
    expectCode(() => initiator.readMessage(bad), "bad-tag");
    expectCode(() => initiator.readMessage(m2), "handshake");
  });

  test("unknown patterns, or a missing static key the pattern needs, refuse to start", () => {
    expectCode(() => new HandshakeState({ pattern: "XX", initiator: true, prologue: PROLOGUE }), "handshake");
    expectCode(() => new HandshakeState({ pattern: "IK", initiator: true, prologue: PROLOGUE, s: x25519Generate() }), "handshake");
    for (const pattern of ["XXpsk3", "toString", "constructor", ""]) {
      expectCode(() => new HandshakeState({ pattern, initiator: true, prologue: PROLOGUE, s: x25519Generate() }), "handshake");
    }
  });
});

describe("Noise_XXhfs: the e1 and ekem1 tokens (hfs revision 1, §4)", () => {
  function hfsPair() {
    const initiator = new HandshakeState({ pattern: "XXhfs", initiator: true, prologue: PROLOGUE, s: x25519Generate() });
    const responder = new HandshakeState({ pattern: "XXhfs", initiator: false, prologue: PROLOGUE, s: x25519Generate() });
    return { initiator, responder };
  }

  test("a round trip: message sizes 32 + 1184, 32 + 1104 + 48 + payload + 16, 48 + payload + 16; the hashes agree", async () => {
    const { initiator, responder } = hfsPair();
    const m1 = await initiator.writeMessageAsync(new Uint8Array(0));
    expect(m1.length).toBe(32 + 1184);
    expect(responder.readMessage(m1)).toEqual(new Uint8Array(0));
    const m2 = await responder.writeMessageAsync(Uint8Array.of(1, 2, 3));
    expect(m2.length).toBe(32 + 1104 + 48 + 3 + 16);
    expect(await initiator.readMessageAsync(m2)).toEqual(Uint8Array.of(1, 2, 3));
    const m3 = initiator.writeMessage(Uint8Array.of(4));
    expect(m3.length).toBe(48 + 1 + 16);
    expect(responder.readMessage(m3)).toEqual(Uint8Array.of(4));
    expect(initiator.handshakeHash()).toEqual(responder.handshakeHash());
    const [i2r] = initiator.split();
    const [ri2r] = responder.split();
    expect(ri2r.decryptWithAd(new Uint8Array(0), i2r.encryptWithAd(new Uint8Array(0), Uint8Array.of(7)))).toEqual(Uint8Array.of(7));
  });

  test("the KEM steps are refused by the synchronous calls, and the state is then failed", async () => {
    const a = hfsPair();
    expectCode(() => a.initiator.writeMessage(new Uint8Array(0)), "handshake"); // e1 not generated
    const b = hfsPair();
    b.responder.readMessage(await b.initiator.writeMessageAsync(new Uint8Array(0)));
    expectCode(() => b.responder.writeMessage(new Uint8Array(0)), "handshake"); // ekem1 not encapsulated
    const c = hfsPair();
    c.responder.readMessage(await c.initiator.writeMessageAsync(new Uint8Array(0)));
    const m2 = await c.responder.writeMessageAsync(new Uint8Array(0));
    expectCode(() => c.initiator.readMessage(m2), "handshake"); // ekem1 not decapsulated
    expectCode(() => c.initiator.writeMessage(new Uint8Array(0)), "handshake");
  });
});

describe("CipherState", () => {
  test("nonce 2^64-1 is reserved: nonce-exhausted", () => {
    const c = new CipherState();
    c.initializeKey(new Uint8Array(32).fill(9));
    c.setNonce(2n ** 64n - 2n);
    const last = c.encryptWithAd(new Uint8Array(0), Uint8Array.of(1));
    expect(last.length).toBe(17);
    expectCode(() => c.encryptWithAd(new Uint8Array(0), Uint8Array.of(1)), "nonce-exhausted");
    const d = new CipherState();
    d.initializeKey(new Uint8Array(32).fill(9));
    d.setNonce(2n ** 64n - 2n);
    expect(d.decryptWithAd(new Uint8Array(0), last)).toEqual(Uint8Array.of(1));
    expectCode(() => d.decryptWithAd(new Uint8Array(0), last), "nonce-exhausted");
  });

  test("replayed or reordered transport messages fail", () => {
    const a = new CipherState();
    const b = new CipherState();
    a.initializeKey(new Uint8Array(32).fill(3));
    b.initializeKey(new Uint8Array(32).fill(3));
    const m0 = a.encryptWithAd(new Uint8Array(0), Uint8Array.of(0));
    const m1 = a.encryptWithAd(new Uint8Array(0), Uint8Array.of(1));
    expectCode(() => b.decryptWithAd(new Uint8Array(0), m1), "bad-tag");
    expect(b.decryptWithAd(new Uint8Array(0), m0)).toEqual(Uint8Array.of(0));
    expectCode(() => b.decryptWithAd(new Uint8Array(0), m0), "bad-tag");
    expect(b.decryptWithAd(new Uint8Array(0), m1)).toEqual(Uint8Array.of(1));
  });

  test("encryptPartsWithAd: the pieces join to encryptWithAd's message at the same nonce, and the nonce moves on", () => {
    const a = new CipherState();
    const b = new CipherState();
    a.initializeKey(new Uint8Array(32).fill(4));
    b.initializeKey(new Uint8Array(32).fill(4));
    const ad = Uint8Array.of(1, 2, 3);
    for (const size of [0, 1, 4095, 4096, 65519]) {
      const pt = new Uint8Array(size).map((_, i) => i * 7);
      const whole = a.encryptWithAd(ad, pt);
      const cut = Math.floor(size / 3);
      const pieces = b.encryptPartsWithAd(ad, [pt.subarray(0, cut), pt.subarray(cut)], size);
      expect(Buffer.concat(pieces).equals(Buffer.from(whole))).toBe(true);
    }
    expectCode(() => b.encryptPartsWithAd(ad, [new Uint8Array(NOISE_MAX_MESSAGE - 15)], NOISE_MAX_MESSAGE - 15), "too-large");
  });

  test("transport limits: short ciphertext malformed, over-long too-large", () => {
    const c = new CipherState();
    c.initializeKey(new Uint8Array(32));
    expectCode(() => c.decryptWithAd(new Uint8Array(0), new Uint8Array(15)), "malformed");
    expectCode(() => c.decryptWithAd(new Uint8Array(0), new Uint8Array(NOISE_MAX_MESSAGE + 1)), "too-large");
    expectCode(() => c.encryptWithAd(new Uint8Array(0), new Uint8Array(NOISE_MAX_MESSAGE - 15)), "too-large");
    expect(c.encryptWithAd(new Uint8Array(0), new Uint8Array(NOISE_MAX_MESSAGE - 16)).length).toBe(NOISE_MAX_MESSAGE);
  });
});
