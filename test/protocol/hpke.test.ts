// HPKE (SPEC.md "End-to-end encryption"): every RFC 9180 vector for DHKEM(X25519,
// HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM in all four modes, then the failures.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  authDecap,
  authEncap,
  decap,
  deriveKeyPair,
  encap,
  keySchedule,
  setupAuthPSKR,
  setupAuthPSKS,
  setupAuthR,
  setupAuthS,
  setupBaseR,
  setupBaseS,
  setupPSKR,
  setupPSKS,
} from "../../src/protocol/hpke.ts";
import type { HpkeContext, HpkeMode, SenderSetup } from "../../src/protocol/hpke.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";
import { counterRand, expectCode, hex, loadVectors, toHex } from "./vectors.ts";

type HpkeVector = {
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmR: string;
  ikmS?: string;
  ikmE: string;
  skRm: string;
  skSm?: string;
  skEm: string;
  psk?: string;
  psk_id?: string;
  pkRm: string;
  pkSm?: string;
  pkEm: string;
  enc: string;
  shared_secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: { aad: string; ct: string; nonce: string; pt: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
};

const vectors = loadVectors<HpkeVector[]>("hpke.json").filter(
  (v) => v.kem_id === 0x20 && v.kdf_id === 1 && v.aead_id === 2,
);

function setups(v: HpkeVector): { sender: SenderSetup; recipient: HpkeContext } {
  const info = hex(v.info);
  const ikmE = hex(v.ikmE);
  const skR = hex(v.skRm);
  const pkR = hex(v.pkRm);
  const enc = hex(v.enc);
  const psk = hex(v.psk ?? "");
  const pskId = hex(v.psk_id ?? "");
  const skS = hex(v.skSm ?? "");
  const pkS = hex(v.pkSm ?? "");
  switch (v.mode) {
    case 0:
      return { sender: setupBaseS(pkR, info, { ikmE }), recipient: setupBaseR(enc, skR, info) };
    case 1:
      return { sender: setupPSKS(pkR, info, psk, pskId, { ikmE }), recipient: setupPSKR(enc, skR, info, psk, pskId) };
    case 2:
      return { sender: setupAuthS(pkR, info, skS, { ikmE }), recipient: setupAuthR(enc, skR, info, pkS) };
    default:
      return {
        sender: setupAuthPSKS(pkR, info, psk, pskId, skS, { ikmE }),
        recipient: setupAuthPSKR(enc, skR, info, psk, pskId, pkS),
      };
  }
}

describe("RFC 9180 vectors", () => {
  test("all four modes are covered", () => {
    expect(vectors.map((v) => v.mode).sort()).toEqual([0, 1, 2, 3]);
  });

  for (const v of vectors) {
    test(`mode ${v.mode}`, () => {
      for (const [ikm, sk, pk] of [
        [v.ikmR, v.skRm, v.pkRm],
        [v.ikmE, v.skEm, v.pkEm],
        ...(v.ikmS ? [[v.ikmS, v.skSm, v.pkSm]] : []),
      ] as [string, string, string][]) {
        const pair = deriveKeyPair(hex(ikm));
        expect(toHex(pair.secretKey)).toBe(sk);
        expect(toHex(pair.publicKey)).toBe(pk);
      }

      // The KEM step on its own.
      const ikmE = hex(v.ikmE);
      const encapsulated = v.mode >= 2 ? authEncap(hex(v.pkRm), hex(v.skSm!), { ikmE }) : encap(hex(v.pkRm), { ikmE });
      expect(toHex(encapsulated.enc)).toBe(v.enc);
      expect(toHex(encapsulated.sharedSecret)).toBe(v.shared_secret);
      const decapsulated = v.mode >= 2 ? authDecap(hex(v.enc), hex(v.skRm), hex(v.pkSm!)) : decap(hex(v.enc), hex(v.skRm));
      expect(toHex(decapsulated)).toBe(v.shared_secret);

      const { sender, recipient } = setups(v);
      expect(toHex(sender.enc)).toBe(v.enc);
      for (const ctx of [sender.ctx, recipient]) {
        expect(toHex(ctx.key)).toBe(v.key);
        expect(toHex(ctx.baseNonce)).toBe(v.base_nonce);
        expect(toHex(ctx.exporterSecret)).toBe(v.exporter_secret);
      }
      for (const e of v.encryptions) {
        expect(toHex(sender.ctx.seal(hex(e.aad), hex(e.pt)))).toBe(e.ct);
        expect(toHex(recipient.open(hex(e.aad), hex(e.ct)))).toBe(e.pt);
      }
      expect(v.encryptions.length).toBe(257);
      for (const x of v.exports) {
        expect(toHex(sender.ctx.export(hex(x.exporter_context), x.L))).toBe(x.exported_value);
        expect(toHex(recipient.export(hex(x.exporter_context), x.L))).toBe(x.exported_value);
      }
    });
  }
});

describe("HPKE failures", () => {
  const info = new TextEncoder().encode("smsg test");
  const aad = new Uint8Array(0);
  const recipient = x25519Generate(counterRand(11));
  const sender = x25519Generate(counterRand(12));
  const other = x25519Generate(counterRand(13));

  test("auth mode round trip with random payloads", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), (pt, ad) => {
        const { enc, ctx } = setupAuthS(recipient.publicKey, info, sender.secretKey);
        const r = setupAuthR(enc, recipient.secretKey, info, sender.publicKey);
        expect(r.open(ad, ctx.seal(ad, pt))).toEqual(pt);
      }),
      { numRuns: 50 },
    );
  });

  test("a tampered enc gives bad-tag", () => {
    const { enc, ctx } = setupAuthS(recipient.publicKey, info, sender.secretKey);
    const ct = ctx.seal(aad, Uint8Array.of(1, 2, 3));
    for (let bit = 0; bit < 255; bit += 7) {
      const bad = Uint8Array.from(enc);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expectCode(() => setupAuthR(bad, recipient.secretKey, info, sender.publicKey).open(aad, ct), "bad-tag");
    }
  });

  test("the wrong sender key in auth mode gives bad-tag", () => {
    const { enc, ctx } = setupAuthS(recipient.publicKey, info, sender.secretKey);
    const ct = ctx.seal(aad, Uint8Array.of(1, 2, 3));
    expectCode(() => setupAuthR(enc, recipient.secretKey, info, other.publicKey).open(aad, ct), "bad-tag");
    // Base-mode opening of an auth-mode message must fail too.
    expectCode(() => setupBaseR(enc, recipient.secretKey, info).open(aad, ct), "bad-tag");
  });

  test("any flipped bit in ct, or other aad or info, gives bad-tag", () => {
    const { enc, ctx } = setupAuthS(recipient.publicKey, info, sender.secretKey);
    const ct = ctx.seal(aad, Uint8Array.of(1, 2, 3));
    for (let bit = 0; bit < ct.length * 8; bit++) {
      const bad = Uint8Array.from(ct);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expectCode(() => setupAuthR(enc, recipient.secretKey, info, sender.publicKey).open(aad, bad), "bad-tag");
    }
    expectCode(() => setupAuthR(enc, recipient.secretKey, info, sender.publicKey).open(Uint8Array.of(0), ct), "bad-tag");
    expectCode(() => setupAuthR(enc, recipient.secretKey, new Uint8Array(0), sender.publicKey).open(aad, ct), "bad-tag");
  });

  test("a failed open does not advance the sequence number", () => {
    const { enc, ctx } = setupBaseS(recipient.publicKey, info);
    const c0 = ctx.seal(aad, Uint8Array.of(0));
    const c1 = ctx.seal(aad, Uint8Array.of(1));
    const r = setupBaseR(enc, recipient.secretKey, info);
    expectCode(() => r.open(aad, c1), "bad-tag");
    expect(r.open(aad, c0)).toEqual(Uint8Array.of(0));
    expect(r.open(aad, c1)).toEqual(Uint8Array.of(1));
  });

  test("low-order recipient or sender keys give low-order", () => {
    const lowOrder = [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))];
    for (const point of lowOrder) {
      expectCode(() => setupBaseS(point, info), "low-order");
      expectCode(() => setupAuthS(point, info, sender.secretKey), "low-order");
      expectCode(() => setupBaseR(point, recipient.secretKey, info), "low-order");
      const { enc } = setupAuthS(recipient.publicKey, info, sender.secretKey);
      expectCode(() => setupAuthR(enc, recipient.secretKey, info, point), "low-order");
    }
  });

  test("wrong lengths are malformed; psk rules enforced", () => {
    expectCode(() => setupBaseS(new Uint8Array(31), info), "malformed");
    expectCode(() => setupBaseR(new Uint8Array(33), recipient.secretKey, info), "malformed");
    expectCode(() => setupAuthR(new Uint8Array(32), recipient.secretKey, info, new Uint8Array(31)), "malformed");
    expectCode(() => deriveKeyPair(new Uint8Array(31)), "malformed");
    const shared = new Uint8Array(32);
    expectCode(() => keySchedule(0 as HpkeMode, shared, info, new Uint8Array(32), Uint8Array.of(1)), "malformed");
    expectCode(() => keySchedule(1 as HpkeMode, shared, info), "malformed");
    expectCode(() => keySchedule(1 as HpkeMode, shared, info, new Uint8Array(32)), "malformed");
    expectCode(() => keySchedule(1 as HpkeMode, shared, info, new Uint8Array(31), Uint8Array.of(1)), "malformed");
    const { ctx } = setupBaseS(recipient.publicKey, info);
    expectCode(() => ctx.open(aad, new Uint8Array(15)), "malformed");
    expectCode(() => ctx.export(aad, 255 * 32 + 1), "malformed");
  });

  test("pinned randomness is deterministic, fresh randomness is not", () => {
    const a = setupBaseS(recipient.publicKey, info, { rand: counterRand(5) });
    const b = setupBaseS(recipient.publicKey, info, { rand: counterRand(5) });
    const c = setupBaseS(recipient.publicKey, info);
    expect(a.enc).toEqual(b.enc);
    expect(a.enc).not.toEqual(c.enc);
  });
});
