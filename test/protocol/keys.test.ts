// Keys (SPEC.md "Keys"): password derivation, printable codes, session-key signatures
// and safety numbers. Argon2id runs at a small setting except in one test.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { bech32m } from "@scure/base";
import {
  ARGON2_PARAMS,
  LABEL_ARGON2_SALT,
  decodeRegistrationCode,
  decodeRelayKey,
  deriveUserKeys,
  encodeRegistrationCode,
  encodeRelayKey,
  safetyNumber,
  sessionKeyMessage,
  signSessionKey,
  verifySessionKey,
} from "../../src/protocol/keys.ts";
import { argon2id, ed25519PublicKey, ed25519Sign, x25519, x25519PublicKey } from "../../src/protocol/primitives.ts";
import { mlkemKeyGenNoble } from "../support/noble-pq.ts";
import { argon2idNoble } from "../support/noble-twins.ts";
import { expectCode, hex, toHex } from "./vectors.ts";

const SMALL = { memoryKiB: 64, passes: 1, parallelism: 1, tagLength: 32 };
const small = { params: SMALL };

describe("deriveUserKeys", () => {
  test("parameters are RFC 9106's second recommended option", () => {
    expect(ARGON2_PARAMS).toEqual({ memoryKiB: 65536, passes: 3, parallelism: 1, tagLength: 32 });
    expect(LABEL_ARGON2_SALT).toBe("smsg/1 argon2id salt ");
  });

  test("deterministic, consistent key pairs, three distinct keys", async () => {
    const a = await deriveUserKeys("alice", "hunter2", small);
    const b = await deriveUserKeys("alice", "hunter2", small);
    expect(a).toEqual(b);
    expect(a.login.publicKey).toEqual(x25519PublicKey(a.login.secretKey));
    expect(a.identity.publicKey).toEqual(ed25519PublicKey(a.identity.seed));
    const secrets = [a.login.secretKey, a.identity.seed, a.storeKey].map(toHex);
    expect(new Set(secrets).size).toBe(3);
    for (const k of [a.login.secretKey, a.identity.seed, a.storeKey]) expect(k.length).toBe(32);
  });

  test("user-separated and password-separated", async () => {
    const alice = await deriveUserKeys("alice", "same password", small);
    const bob = await deriveUserKeys("bob", "same password", small);
    const other = await deriveUserKeys("alice", "other password", small);
    for (const x of [bob, other]) {
      expect(x.login.secretKey).not.toEqual(alice.login.secretKey);
      expect(x.identity.seed).not.toEqual(alice.identity.seed);
      expect(x.storeKey).not.toEqual(alice.storeKey);
    }
  });

  test("the password is NFC-normalized; the argon2 implementation is pluggable", async () => {
    const composed = await deriveUserKeys("alice", "caf\u00e9", small);
    const decomposed = await deriveUserKeys("alice", "cafe\u0301", { ...small, argon2: argon2idNoble });
    expect(decomposed).toEqual(composed);
  });

  test("the salt is the label followed by the user name", async () => {
    const seen: Uint8Array[] = [];
    const spy: typeof argon2id = (password, salt, params) => {
      seen.push(salt);
      return argon2id(password, salt, params);
    };
    await deriveUserKeys("ålice", "x", { ...small, argon2: spy });
    expect(new TextDecoder().decode(seen[0])).toBe("smsg/1 argon2id salt ålice");
  });

  test("empty or over-long user names are malformed", async () => {
    for (const user of ["", "x".repeat(256)]) {
      let code: string | undefined;
      try {
        await deriveUserKeys(user, "pw", small);
      } catch (e) {
        code = (e as { code?: string }).code;
      }
      expect(code).toBe("malformed");
    }
  });

  test("at the real parameters (64 MiB, t = 3)", async () => {
    const keys = await deriveUserKeys("alice", "correct horse battery staple");
    expect(keys.login.publicKey).toEqual(x25519PublicKey(keys.login.secretKey));
    const again = await deriveUserKeys("alice", "correct horse battery staple", { params: ARGON2_PARAMS });
    expect(again).toEqual(keys);
    expect(keys).not.toEqual(await deriveUserKeys("alice", "correct horse battery staple", small));
  });
});

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

describe("registration codes and relay keys", () => {
  for (const [name, encode, decode, hrp, otherDecode] of [
    ["registration code", encodeRegistrationCode, decodeRegistrationCode, "smsg1", decodeRelayKey],
    ["relay key", encodeRelayKey, decodeRelayKey, "smsgrelay1", decodeRegistrationCode],
  ] as const) {
    test(`${name}: round trip, prefix, whitespace and all-uppercase accepted`, () => {
      fc.assert(
        fc.property(key32, (key) => {
          const code = encode(key);
          expect(code.startsWith(hrp)).toBe(true);
          expect(decode(code)).toEqual(key);
          expect(decode(`  ${code}\n`)).toEqual(key);
          expect(decode(code.toUpperCase())).toEqual(key);
          expectCode(() => otherDecode(code), "bad-code");
        }),
        { numRuns: 50 },
      );
    });

    test(`${name}: any single-character change is bad-code`, () => {
      fc.assert(
        fc.property(key32, fc.nat(), fc.nat(), (key, posSeed, charSeed) => {
          const code = encode(key);
          const pos = posSeed % code.length;
          const alphabet = `${BECH32_CHARSET}${BECH32_CHARSET.toUpperCase()}1bio!`;
          let replacement = alphabet[charSeed % alphabet.length] as string;
          if (replacement === code[pos]) replacement = code[pos] === "q" ? "p" : "q";
          const changed = code.slice(0, pos) + replacement + code.slice(pos + 1);
          expectCode(() => decode(changed), "bad-code");
        }),
        { numRuns: 300 },
      );
    });

    test(`${name}: truncated, extended, empty or mixed-case input is bad-code`, () => {
      const code = encode(new Uint8Array(32).fill(3));
      for (const bad of ["", code.slice(0, -1), `${code}q`, code.slice(0, 10) + code.slice(10).toUpperCase()]) {
        expectCode(() => decode(bad), "bad-code");
      }
      // Valid bech32m with the right prefix, but 31 or 33 bytes inside.
      const prefix = hrp.slice(0, -1);
      for (const length of [31, 33]) {
        expectCode(() => decode(bech32m.encode(prefix, bech32m.toWords(new Uint8Array(length)))), "bad-code");
      }
      // 32 bytes with non-zero padding bits: a second spelling of the same key, refused.
      const words = bech32m.toWords(new Uint8Array(32).fill(3));
      words[words.length - 1]! |= 1;
      expectCode(() => decode(bech32m.encode(prefix, words)), "bad-code");
    });
  }

  test("encoding a key of the wrong length is malformed", () => {
    expectCode(() => encodeRegistrationCode(new Uint8Array(31)), "malformed");
    expectCode(() => encodeRelayKey(new Uint8Array(33)), "malformed");
  });
});

describe("session key announcements", () => {
  const seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const identityPub = ed25519PublicKey(seed);
  const sessionPub = x25519PublicKey(new Uint8Array(32).fill(8));
  const kemPub = mlkemKeyGenNoble(new Uint8Array(64).fill(9)).encapsulationKey;
  const issuedAt = 1_700_000_000_123;

  test("message layout: smsg/2 label, user, both halves of the hybrid key, issuedAt", () => {
    const m = sessionKeyMessage("bob", sessionPub, kemPub, issuedAt);
    const label = new TextEncoder().encode("smsg/2 session key");
    expect(m.subarray(0, label.length)).toEqual(label);
    expect(Array.from(m.subarray(label.length, label.length + 5))).toEqual([0, 3, 98, 111, 98]);
    expect(m.subarray(label.length + 5, label.length + 37)).toEqual(sessionPub);
    expect(m.subarray(label.length + 37, label.length + 37 + 1184)).toEqual(kemPub);
    expect(toHex(m.subarray(label.length + 37 + 1184))).toBe(issuedAt.toString(16).padStart(16, "0"));
    expect(m.length).toBe(label.length + 2 + 3 + 32 + 1184 + 8);
  });

  test("a signature verifies and fails under any changed field, the ML-KEM key's included", () => {
    const sig = signSessionKey(seed, "bob", sessionPub, kemPub, issuedAt);
    expect(sig.length).toBe(64);
    verifySessionKey(identityPub, "bob", sessionPub, kemPub, issuedAt, sig);
    const otherKey = Uint8Array.from(sessionPub);
    otherKey[0]! ^= 1;
    const otherIdentity = ed25519PublicKey(new Uint8Array(32).fill(1));
    expectCode(() => verifySessionKey(identityPub, "bob2", sessionPub, kemPub, issuedAt, sig), "bad-signature");
    expectCode(() => verifySessionKey(identityPub, "Bob", sessionPub, kemPub, issuedAt, sig), "bad-signature");
    expectCode(() => verifySessionKey(identityPub, "bob", otherKey, kemPub, issuedAt, sig), "bad-signature");
    expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, kemPub, issuedAt + 1, sig), "bad-signature");
    expectCode(() => verifySessionKey(otherIdentity, "bob", sessionPub, kemPub, issuedAt, sig), "bad-signature");
    // A relay that swaps the ML-KEM half for its own key, or zeroes it, breaks the signature.
    const swapped = mlkemKeyGenNoble(new Uint8Array(64).fill(10)).encapsulationKey;
    expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, swapped, issuedAt, sig), "bad-signature");
    expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, new Uint8Array(1184), issuedAt, sig), "bad-signature");
    for (const bit of [0, 4000, 1184 * 8 - 1]) {
      const bad = Uint8Array.from(kemPub);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, bad, issuedAt, sig), "bad-signature");
    }
    for (let bit = 0; bit < 512; bit += 5) {
      const bad = Uint8Array.from(sig);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, kemPub, issuedAt, bad), "bad-signature");
    }
  });

  test("a classical (smsg/1, X25519-only) announcement's signature is not one of these", () => {
    // What version 1 signed for the same key: a relay cannot pass it off with the ML-KEM half added.
    const label = new TextEncoder().encode("smsg/1 session key");
    const v1 = new Uint8Array([...label, 0, 3, 98, 111, 98, ...sessionPub, ...sessionKeyMessage("bob", sessionPub, kemPub, issuedAt).subarray(-8)]);
    const sig = ed25519Sign(seed, v1);
    expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, kemPub, issuedAt, sig), "bad-signature");
  });

  test("wrong lengths and bad fields are malformed", () => {
    const sig = signSessionKey(seed, "bob", sessionPub, kemPub, issuedAt);
    expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, kemPub, issuedAt, sig.subarray(0, 63)), "malformed");
    expectCode(() => verifySessionKey(identityPub.subarray(1), "bob", sessionPub, kemPub, issuedAt, sig), "malformed");
    expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, kemPub.subarray(1), issuedAt, sig), "malformed");
    expectCode(() => verifySessionKey(identityPub, "bob", sessionPub, new Uint8Array(0), issuedAt, sig), "malformed");
    expectCode(() => sessionKeyMessage("bob", sessionPub.subarray(1), kemPub, issuedAt), "malformed");
    expectCode(() => sessionKeyMessage("", sessionPub, kemPub, issuedAt), "malformed");
    expectCode(() => sessionKeyMessage("bob", sessionPub, kemPub, -1), "malformed");
    expectCode(() => sessionKeyMessage("bob", sessionPub, kemPub, 2 ** 53), "malformed");
  });
});

describe("safety numbers", () => {
  test("symmetric, 12 groups of 5 digits, and different for other keys or users", () => {
    fc.assert(
      fc.property(key32, key32, fc.string({ minLength: 1, maxLength: 20 }), fc.string({ minLength: 1, maxLength: 20 }), (ka, kb, ua, ub) => {
        const n = safetyNumber(ua, ka, ub, kb);
        expect(n).toBe(safetyNumber(ub, kb, ua, ka));
        expect(n).toMatch(/^\d{5}( \d{5}){11}$/);
        const changed = Uint8Array.from(kb);
        changed[31]! ^= 1;
        expect(safetyNumber(ua, ka, ub, changed)).not.toBe(n);
      }),
      { numRuns: 50 },
    );
    const k = new Uint8Array(32).fill(1);
    expect(safetyNumber("alice", k, "bob", k)).not.toBe(safetyNumber("alice", k, "carol", k));
  });

  test("follows the documented derivation (recomputed with node:crypto)", () => {
    const a = new Uint8Array(32).fill(0xaa);
    const b = new Uint8Array(32).fill(0xbb);
    // "alice" < "bob", so alice's pair comes first.
    const expectedDigest = createHash("sha512")
      .update("smsg/1 safety number")
      .update(Uint8Array.of(5, ...new TextEncoder().encode("alice"), ...a))
      .update(Uint8Array.of(3, ...new TextEncoder().encode("bob"), ...b))
      .digest();
    const groups = [];
    for (let i = 0; i < 60; i += 5) {
      groups.push(String(Number(expectedDigest.readBigUInt64BE(i) >> 24n) % 100000).padStart(5, "0"));
    }
    expect(safetyNumber("alice", a, "bob", b)).toBe(groups.join(" "));
    expect(safetyNumber("bob", b, "alice", a)).toBe(groups.join(" "));
  });

  test("DH between derived login keys works (sanity)", async () => {
    const a = await deriveUserKeys("alice", "pw", small);
    const b = await deriveUserKeys("bob", "pw", small);
    expect(x25519(a.login.secretKey, b.login.publicKey)).toEqual(x25519(b.login.secretKey, a.login.publicKey));
  });
});
