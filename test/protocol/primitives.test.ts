// Primitives (SPEC.md "Primitives"): the native node:crypto X25519, AES-256-GCM and
// Argon2id against published vectors and against @noble, plus HKDF and Ed25519 vectors.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { expand, extract, hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import {
  hkdfExpand as P_hkdfExpand,
  hkdfSha256 as P_hkdfSha256,
  hkdfExtract as P_hkdfExtract,
  hmacSha256 as P_hmacSha256,
  sha256 as P_sha256,
} from "../../src/protocol/primitives.ts";
import {
  aesGcmOpen,
  aesGcmSeal,
  aesGcmSealParts,
  argon2id,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  ed25519VerifyNative,
  randomBytes,
  x25519,
  x25519Generate,
  x25519PublicKey,
} from "../../src/protocol/primitives.ts";
import { argon2idNoble, x25519Noble } from "../support/noble-twins.ts";
import { expectCode, expectCodeAsync, hex, loadVectors, toHex } from "./vectors.ts";

type Wycheproof<T> = { testGroups: { tests: T[]; publicKey?: { pk: string } }[] };
type XdhTest = { tcId: number; comment: string; flags: string[]; public: string; private: string; shared: string; result: string };
type EddsaTest = { tcId: number; msg: string; sig: string; result: string };
type AeadTest = { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string };

const P = loadVectors<{
  hkdf_sha256: { tests: { name: string; ikm: string; salt: string; info: string; length: number; prk: string; okm: string }[] };
  x25519: {
    scalar_mult: { name: string; scalar: string; u: string; output: string }[];
    iterated: { start: string; results: { iterations: number; k: string; slow?: boolean }[] };
    diffie_hellman: { alice_private: string; alice_public: string; bob_private: string; bob_public: string; shared_secret: string };
  };
  ed25519: { tests: { name: string; secret_key: string; public_key: string; message: string; signature: string }[] };
  argon2id: {
    tests: {
      name: string;
      memory_kib: number;
      iterations: number;
      parallelism: number;
      tag_length: number;
      password: string;
      salt: string;
      secret: string;
      associated_data: string;
      tag: string;
    }[];
  };
  aes256gcm: {
    gcm_spec: { tests: { name: string; key: string; iv: string; iv_bits: number; aad: string; plaintext: string; ciphertext: string; tag: string }[] };
    wycheproof: { tests: AeadTest[] };
  };
}>("primitives.json");

const x25519Implementations = [
  ["node", x25519],
  ["noble", x25519Noble],
] as const;

describe("X25519", () => {
  test("node and noble agree on random keys", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (a, b) => {
        const pub = x25519PublicKey(b);
        expect(x25519(a, pub)).toEqual(x25519Noble(a, pub));
        // Arbitrary u-coordinates too, not only valid public keys.
        let native: Uint8Array | string;
        let noble: Uint8Array | string;
        try { native = x25519(a, b); } catch (e) { native = String((e as { code?: string }).code); }
        try { noble = x25519Noble(a, b); } catch (e) { noble = String((e as { code?: string }).code); }
        expect(native).toEqual(noble);
      }),
      { numRuns: 50 },
    );
  });

  test("generated key pairs agree on a shared secret; keys come from rand", () => {
    const a = x25519Generate();
    const b = x25519Generate();
    expect(x25519(a.secretKey, b.publicKey)).toEqual(x25519(b.secretKey, a.publicKey));
    const pinned = x25519Generate(() => new Uint8Array(32).fill(5));
    expect(pinned.secretKey).toEqual(new Uint8Array(32).fill(5));
    expect(randomBytes(32)).not.toEqual(randomBytes(32));
  });

  for (const [name, dh] of x25519Implementations) {
    test(`RFC 7748 §5.2 and §6.1 (${name})`, () => {
      for (const v of P.x25519.scalar_mult) expect(toHex(dh(hex(v.scalar), hex(v.u)))).toBe(v.output);
      const d = P.x25519.diffie_hellman;
      expect(toHex(x25519PublicKey(hex(d.alice_private)))).toBe(d.alice_public);
      expect(toHex(x25519PublicKey(hex(d.bob_private)))).toBe(d.bob_public);
      expect(toHex(dh(hex(d.alice_private), hex(d.bob_public)))).toBe(d.shared_secret);
      expect(toHex(dh(hex(d.bob_private), hex(d.alice_public)))).toBe(d.shared_secret);
    });

    test(`Wycheproof x25519, all 90 tests (${name})`, () => {
      const tests = loadVectors<Wycheproof<XdhTest>>("wycheproof-x25519.json").testGroups.flatMap((g) => g.tests);
      expect(tests.length).toBe(90);
      let rejected = 0;
      for (const t of tests) {
        const allZero = /^0+$/.test(t.shared);
        if (allZero) {
          expectCode(() => dh(hex(t.private), hex(t.public)), "low-order");
          rejected += 1;
          continue;
        }
        // valid must match; acceptable must match too, as only all-zero results may be refused.
        expect([t.tcId, toHex(dh(hex(t.private), hex(t.public)))]).toEqual([t.tcId, t.shared]);
      }
      expect(rejected).toBe(31);
    });
  }

  test("RFC 7748 §5.2 iterated: 1 and 1000 iterations (native)", () => {
    let k = hex(P.x25519.iterated.start);
    let u = hex(P.x25519.iterated.start);
    const wanted = new Map(P.x25519.iterated.results.filter((r) => !r.slow).map((r) => [r.iterations, r.k]));
    for (let i = 1; i <= 1000; i++) {
      [k, u] = [x25519(k, u), k];
      const expected = wanted.get(i);
      if (expected) expect(toHex(k)).toBe(expected);
    }
    expect(wanted.size).toBe(2);
  });

  test("wrong lengths are malformed", () => {
    for (const dh of [x25519, x25519Noble]) {
      expectCode(() => dh(new Uint8Array(31), new Uint8Array(32).fill(9)), "malformed");
      expectCode(() => dh(new Uint8Array(32), new Uint8Array(33).fill(9)), "malformed");
    }
    expectCode(() => x25519PublicKey(new Uint8Array(16)), "malformed");
  });
});

describe("AES-256-GCM", () => {
  test("GCM spec test cases with a 96-bit IV", () => {
    const cases = P.aes256gcm.gcm_spec.tests.filter((t) => t.iv_bits === 96);
    expect(cases.length).toBe(4);
    for (const t of cases) {
      const sealed = aesGcmSeal(hex(t.key), hex(t.iv), hex(t.aad), hex(t.plaintext));
      expect(toHex(sealed)).toBe(t.ciphertext + t.tag);
      expect(toHex(aesGcmOpen(hex(t.key), hex(t.iv), hex(t.aad), sealed))).toBe(t.plaintext);
    }
  });

  test("sealing in parts gives aesGcmSeal's bytes, however the input is cut (the GCM spec cases, then random)", () => {
    const joined = (pieces: Uint8Array[]) => Buffer.concat(pieces);
    for (const t of P.aes256gcm.gcm_spec.tests.filter((t) => t.iv_bits === 96)) {
      const pt = hex(t.plaintext);
      const cuts = [[pt], [pt.subarray(0, 1), pt.subarray(1)], [new Uint8Array(0), pt, new Uint8Array(0)]];
      for (const parts of cuts) expect(toHex(joined(aesGcmSealParts(hex(t.key), hex(t.iv), hex(t.aad), parts)))).toBe(t.ciphertext + t.tag);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.array(fc.nat(), { maxLength: 6 }), fc.uint8Array({ maxLength: 40 }), (pt, cuts, aad) => {
        const key = new Uint8Array(32).fill(pt.length & 0xff);
        const nonce = new Uint8Array(12).fill(7);
        const points = [...new Set(cuts.map((c) => c % (pt.length + 1)))].sort((a, b) => a - b);
        const parts = [...points, pt.length].map((p, i, all) => pt.subarray(i === 0 ? 0 : all[i - 1], p));
        const pieces = aesGcmSealParts(key, nonce, aad, parts);
        expect(joined(pieces).equals(Buffer.from(aesGcmSeal(key, nonce, aad, pt)))).toBe(true);
        expect(Buffer.from(aesGcmOpen(key, nonce, aad, joined(pieces))).equals(Buffer.from(pt))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  test("other IV lengths are refused (the GCM spec's 64- and 480-bit cases)", () => {
    for (const t of P.aes256gcm.gcm_spec.tests.filter((t) => t.iv_bits !== 96)) {
      expectCode(() => aesGcmSeal(hex(t.key), hex(t.iv), hex(t.aad), hex(t.plaintext)), "malformed");
    }
  });

  test("Wycheproof aes_gcm (256-bit key, 96-bit IV), all 43 tests", () => {
    const tests = P.aes256gcm.wycheproof.tests;
    expect(tests.length).toBe(43);
    for (const t of tests) {
      const ctWithTag = hex(t.ct + t.tag);
      if (t.result === "valid") {
        expect(toHex(aesGcmSeal(hex(t.key), hex(t.iv), hex(t.aad), hex(t.msg)))).toBe(t.ct + t.tag);
        expect(toHex(aesGcmOpen(hex(t.key), hex(t.iv), hex(t.aad), ctWithTag))).toBe(t.msg);
      } else {
        expectCode(() => aesGcmOpen(hex(t.key), hex(t.iv), hex(t.aad), ctWithTag), "bad-tag");
      }
    }
  });

  test("any flipped bit gives bad-tag; short input malformed; wrong key length malformed", () => {
    const key = new Uint8Array(32).fill(1);
    const nonce = new Uint8Array(12).fill(2);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 16 }), fc.nat(), (pt, aad, bitSeed) => {
        const sealed = aesGcmSeal(key, nonce, aad, pt);
        expect(aesGcmOpen(key, nonce, aad, sealed)).toEqual(pt);
        const bit = bitSeed % (sealed.length * 8);
        const bad = Uint8Array.from(sealed);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expectCode(() => aesGcmOpen(key, nonce, aad, bad), "bad-tag");
      }),
      { numRuns: 100 },
    );
    expectCode(() => aesGcmOpen(key, nonce, new Uint8Array(0), new Uint8Array(15)), "malformed");
    expectCode(() => aesGcmSeal(new Uint8Array(16), nonce, new Uint8Array(0), new Uint8Array(0)), "malformed");
  });
});

describe("Argon2id", () => {
  const params = (t: (typeof P.argon2id.tests)[number]) => ({
    memoryKiB: t.memory_kib,
    passes: t.iterations,
    parallelism: t.parallelism,
    tagLength: t.tag_length,
  });

  for (const [name, kdf] of [
    ["native", argon2id],
    ["noble", argon2idNoble],
  ] as const) {
    test(`RFC 9106 §5.3 and pyca vectors (${name})`, async () => {
      for (const t of P.argon2id.tests) {
        const extra = {
          ...(t.secret ? { secret: hex(t.secret) } : {}),
          ...(t.associated_data ? { associatedData: hex(t.associated_data) } : {}),
        };
        expect(toHex(await kdf(hex(t.password), hex(t.salt), params(t), extra))).toBe(t.tag);
      }
    });
  }

  test("native equals noble on smsg-shaped inputs at small memory", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ minLength: 8, maxLength: 40 }),
        fc.integer({ min: 8, max: 256 }),
        async (password, salt, memoryKiB) => {
          const p = { memoryKiB, passes: 3, parallelism: 1, tagLength: 32 };
          expect(await argon2id(password, salt, p)).toEqual(await argon2idNoble(password, salt, p));
        },
      ),
      { numRuns: 20 },
    );
  });

  test("native equals noble at the real smsg setting (64 MiB, t = 3, p = 1)", async () => {
    const p = { memoryKiB: 65536, passes: 3, parallelism: 1, tagLength: 32 };
    const password = new TextEncoder().encode("correct horse battery staple");
    const salt = new TextEncoder().encode("smsg/1 argon2id salt alice");
    const [native, noble] = await Promise.all([argon2id(password, salt, p), argon2idNoble(password, salt, p)]);
    expect(native).toEqual(noble);
  });

  test("out-of-range parameters and short salts are malformed", async () => {
    const ok = { memoryKiB: 8, passes: 1, parallelism: 1, tagLength: 32 };
    for (const kdf of [argon2id, argon2idNoble]) {
      await expectCodeAsync(() => kdf(new Uint8Array(1), new Uint8Array(7), ok), "malformed");
      await expectCodeAsync(() => kdf(new Uint8Array(1), new Uint8Array(8), { ...ok, memoryKiB: 7 }), "malformed");
      await expectCodeAsync(() => kdf(new Uint8Array(1), new Uint8Array(8), { ...ok, tagLength: 3 }), "malformed");
      await expectCodeAsync(() => kdf(new Uint8Array(1), new Uint8Array(8), { ...ok, passes: 0 }), "malformed");
      await expectCodeAsync(() => kdf(new Uint8Array(1), new Uint8Array(8), { ...ok, parallelism: 1.5 }), "malformed");
    }
  });
});

describe("HKDF-SHA256 (@noble/hashes)", () => {
  test("RFC 5869 A.1-A.3", () => {
    expect(P.hkdf_sha256.tests.length).toBe(3);
    for (const t of P.hkdf_sha256.tests) {
      const prk = extract(sha256, hex(t.ikm), hex(t.salt));
      expect(toHex(prk)).toBe(t.prk);
      expect(toHex(expand(sha256, prk, hex(t.info), t.length))).toBe(t.okm);
      expect(toHex(hkdf(sha256, hex(t.ikm), hex(t.salt), hex(t.info), t.length))).toBe(t.okm);
    }
  });
});

// The hot path hashes natively (node:crypto); noble is the reference it must agree with.
describe("native SHA-256, HMAC and HKDF agree with @noble/hashes and RFC 5869", () => {
  test("RFC 5869 A.1-A.3 through the native HKDF", () => {
    for (const t of P.hkdf_sha256.tests) {
      const prk = P_hkdfExtract(hex(t.salt), hex(t.ikm));
      expect(toHex(prk)).toBe(t.prk);
      expect(toHex(P_hkdfExpand(prk, hex(t.info), t.length))).toBe(t.okm);
      expect(toHex(P_hkdfSha256(hex(t.ikm), hex(t.salt), hex(t.info), t.length))).toBe(t.okm);
    }
  });

  test("the one-call HKDF takes an empty ikm and salt (Noise's Split) and refuses lengths out of range", () => {
    const ck = new Uint8Array(32).fill(7);
    const empty = new Uint8Array(0);
    expect(P_hkdfSha256(empty, ck, empty, 64)).toEqual(hkdf(sha256, empty, ck, empty, 64));
    expect(P_hkdfSha256(ck, empty, empty, 96)).toEqual(hkdf(sha256, ck, empty, empty, 96));
    // Noise §4.3 written out: temp_key = HMAC(ck, ikm), output1 = HMAC(temp_key, 0x01), output2 = HMAC(temp_key, output1 || 0x02).
    const temp = hmac(sha256, ck, ck);
    const o1 = hmac(sha256, temp, Uint8Array.of(1));
    const o2 = hmac(sha256, temp, new Uint8Array([...o1, 2]));
    expect(P_hkdfSha256(ck, ck, empty, 64)).toEqual(new Uint8Array([...o1, ...o2]));
    for (const bad of [0, -1, 255 * 32 + 1, 1.5]) expect(() => P_hkdfSha256(ck, ck, empty, bad)).toThrow("HKDF output length out of range");
  });

  test("random inputs: native equals noble (fast-check)", () => {
    const bytes = fc.uint8Array({ minLength: 0, maxLength: 300 });
    fc.assert(
      fc.property(bytes, bytes, bytes, fc.integer({ min: 1, max: 255 }), (a, b, c, len) => {
        expect(P_sha256(a, b)).toEqual(sha256(new Uint8Array([...a, ...b])));
        expect(P_hmacSha256(a, b, c)).toEqual(hmac(sha256, a, new Uint8Array([...b, ...c])));
        const prk = P_hkdfExtract(a, b);
        expect(prk).toEqual(extract(sha256, b, a));
        expect(P_hkdfExpand(prk, c, len)).toEqual(expand(sha256, prk, c, len));
        expect(P_hkdfSha256(b, a, c, len)).toEqual(hkdf(sha256, b, a, c, len));
      }),
      { numRuns: 300 },
    );
  });
});

describe("Ed25519 (@noble/curves, strict)", () => {
  test("RFC 8032 §7.1", () => {
    expect(P.ed25519.tests.length).toBe(5);
    for (const t of P.ed25519.tests) {
      expect(toHex(ed25519PublicKey(hex(t.secret_key)))).toBe(t.public_key);
      expect(toHex(ed25519Sign(hex(t.secret_key), hex(t.message)))).toBe(t.signature);
      expect(ed25519Verify(hex(t.public_key), hex(t.message), hex(t.signature))).toBe(true);
    }
  });

  test("Wycheproof ed25519, all 84 tests (zip215: false)", () => {
    const groups = loadVectors<Wycheproof<EddsaTest>>("wycheproof-ed25519.json").testGroups;
    let count = 0;
    for (const g of groups) {
      const pk = hex(g.publicKey!.pk);
      for (const t of g.tests) {
        count += 1;
        expect([t.tcId, ed25519Verify(pk, hex(t.msg), hex(t.sig))]).toEqual([t.tcId, t.result === "valid"]);
        expect([t.tcId, ed25519VerifyNative(pk, hex(t.msg), hex(t.sig))]).toEqual([t.tcId, t.result === "valid"]);
      }
    }
    expect(count).toBe(84);
  });

  test("native and noble verification agree on random signatures, tampered or not (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(64 * 8 - 1),
        fc.boolean(),
        (seed, msg, bit, tamper) => {
          const pk = ed25519PublicKey(seed);
          const sig = ed25519Sign(seed, msg);
          if (tamper) sig[bit >> 3] = sig[bit >> 3]! ^ (1 << (bit & 7));
          const noble = ed25519Verify(pk, msg, sig);
          expect(ed25519VerifyNative(pk, msg, sig)).toBe(noble);
          if (!tamper) expect(noble).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
