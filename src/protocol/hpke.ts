// HPKE (RFC 9180) for one suite: DHKEM(X25519, HKDF-SHA256) 0x0020, HKDF-SHA256 0x0001,
// AES-256-GCM 0x0002, in all four modes. smsg seals each message to its recipient with
// it (SPEC.md "End-to-end encryption"); names follow RFC 9180 §4-§5.

import { ProtocolError } from "./errors.ts";
import { concat, copyBytes } from "./bytes.ts";
import { utf8 } from "./codec.ts";
import {
  aesGcmOpen,
  aesGcmSeal,
  checkLength,
  hkdfExpand,
  hkdfExtract,
  randomBytes,
  x25519,
  x25519PublicKey,
} from "./primitives.ts";
import type { KeyPair, Rand } from "./primitives.ts";

export const HPKE_KEM_ID = 0x0020;
export const HPKE_KDF_ID = 0x0001;
export const HPKE_AEAD_ID = 0x0002;

export const MODE_BASE = 0x00;
export const MODE_PSK = 0x01;
export const MODE_AUTH = 0x02;
export const MODE_AUTH_PSK = 0x03;
export type HpkeMode = typeof MODE_BASE | typeof MODE_PSK | typeof MODE_AUTH | typeof MODE_AUTH_PSK;

// RFC 9180 §7.1 and §7.3 sizes for this suite.
const N_SECRET = 32;
const N_ENC = 32;
const N_PK = 32;
const N_SK = 32;
const N_K = 32;
const N_N = 12;
const N_H = 32;

const EMPTY = new Uint8Array(0);
const HPKE_V1 = utf8("HPKE-v1");


function i2osp2(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

// RFC 9180 §4.1 and §5.1: the KEM and the full suite have separate suite_ids.
const KEM_SUITE_ID = concat(utf8("KEM"), i2osp2(HPKE_KEM_ID));
const HPKE_SUITE_ID = concat(utf8("HPKE"), i2osp2(HPKE_KEM_ID), i2osp2(HPKE_KDF_ID), i2osp2(HPKE_AEAD_ID));

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return hkdfExtract(salt, concat(HPKE_V1, suiteId, utf8(label), ikm));
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  // I2OSP(L, 2) caps L at 65535, and HKDF-Expand itself at 255 * Nh.
  if (!Number.isSafeInteger(length) || length < 0 || length > 255 * N_H) {
    throw new ProtocolError("malformed", "HPKE expand length out of range");
  }
  return hkdfExpand(prk, concat(i2osp2(length), HPKE_V1, suiteId, utf8(label), info), length);
}

/** RFC 9180 §4.1 ExtractAndExpand, the DHKEM's KDF step. */
function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE_ID, EMPTY, "eae_prk", dh);
  return labeledExpand(KEM_SUITE_ID, eaePrk, "shared_secret", kemContext, N_SECRET);
}

/** RFC 9180 §7.1.3 DeriveKeyPair for X25519: the expanded bytes are the secret key as-is. */
export function deriveKeyPair(ikm: Uint8Array): KeyPair {
  // §7.1.3: ikm SHOULD carry Nsk bytes of entropy; shorter input is a caller bug.
  if (!(ikm instanceof Uint8Array) || ikm.length < N_SK) {
    throw new ProtocolError("malformed", "HPKE ikm shorter than 32 bytes");
  }
  const dkpPrk = labeledExtract(KEM_SUITE_ID, EMPTY, "dkp_prk", ikm);
  const secretKey = labeledExpand(KEM_SUITE_ID, dkpPrk, "sk", EMPTY, N_SK);
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}

export type SenderOptions = {
  /** Pins the ephemeral key (DeriveKeyPair(ikmE)); for test vectors only. */
  ikmE?: Uint8Array;
  rand?: Rand;
};

function ephemeral(opts: SenderOptions): KeyPair {
  return deriveKeyPair(opts.ikmE ?? (opts.rand ?? randomBytes)(N_SK));
}

export type Encapsulation = { sharedSecret: Uint8Array; enc: Uint8Array };

export function encap(pkR: Uint8Array, opts: SenderOptions = {}): Encapsulation {
  checkLength(pkR, N_PK, "HPKE recipient public key");
  const e = ephemeral(opts);
  const dh = x25519(e.secretKey, pkR);
  const enc = e.publicKey;
  return { sharedSecret: extractAndExpand(dh, concat(enc, pkR)), enc };
}

export function decap(enc: Uint8Array, skR: Uint8Array): Uint8Array {
  checkLength(enc, N_ENC, "HPKE enc");
  checkLength(skR, N_SK, "HPKE recipient secret key");
  const dh = x25519(skR, enc);
  return extractAndExpand(dh, concat(enc, x25519PublicKey(skR)));
}

/** RFC 9180 §4.1 AuthEncap: the sender's static key is bound in, authenticating it. */
export function authEncap(pkR: Uint8Array, skS: Uint8Array, opts: SenderOptions = {}): Encapsulation {
  checkLength(pkR, N_PK, "HPKE recipient public key");
  checkLength(skS, N_SK, "HPKE sender secret key");
  const e = ephemeral(opts);
  const dh = concat(x25519(e.secretKey, pkR), x25519(skS, pkR));
  const enc = e.publicKey;
  return { sharedSecret: extractAndExpand(dh, concat(enc, pkR, x25519PublicKey(skS))), enc };
}

export function authDecap(enc: Uint8Array, skR: Uint8Array, pkS: Uint8Array): Uint8Array {
  checkLength(enc, N_ENC, "HPKE enc");
  checkLength(skR, N_SK, "HPKE recipient secret key");
  checkLength(pkS, N_PK, "HPKE sender public key");
  const dh = concat(x25519(skR, enc), x25519(skR, pkS));
  return extractAndExpand(dh, concat(enc, x25519PublicKey(skR), pkS));
}

/** RFC 9180 §5.2: the AEAD key, base nonce and sequence number, plus the exporter secret. */
export class HpkeContext {
  // Exposed for the RFC 9180 known-answer tests; never log them.
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
  #seq = 0n;

  constructor(key: Uint8Array, baseNonce: Uint8Array, exporterSecret: Uint8Array) {
    this.key = key;
    this.baseNonce = baseNonce;
    this.exporterSecret = exporterSecret;
  }

  #computeNonce(): Uint8Array {
    const nonce = copyBytes(this.baseNonce);
    let seq = this.#seq;
    for (let i = N_N - 1; i >= 0 && seq > 0n; i--) {
      nonce[i]! ^= Number(seq & 0xffn);
      seq >>= 8n;
    }
    return nonce;
  }

  #incrementSeq(): void {
    // §5.2: a sequence number of 2^96-1 would repeat a nonce on the next call.
    if (this.#seq >= (1n << BigInt(8 * N_N)) - 1n) {
      throw new ProtocolError("nonce-exhausted", "HPKE sequence number exhausted");
    }
    this.#seq += 1n;
  }

  seal(aad: Uint8Array, pt: Uint8Array): Uint8Array {
    const ct = aesGcmSeal(this.key, this.#computeNonce(), aad, pt);
    this.#incrementSeq();
    return ct;
  }

  /** A failed open leaves the sequence number where it was (RFC 9180 §5.2). */
  open(aad: Uint8Array, ct: Uint8Array): Uint8Array {
    const pt = aesGcmOpen(this.key, this.#computeNonce(), aad, ct);
    this.#incrementSeq();
    return pt;
  }

  export(exporterContext: Uint8Array, length: number): Uint8Array {
    return labeledExpand(HPKE_SUITE_ID, this.exporterSecret, "sec", exporterContext, length);
  }
}

/** RFC 9180 §5.1 KeySchedule, with VerifyPSKInputs. */
export function keySchedule(
  mode: HpkeMode,
  sharedSecret: Uint8Array,
  info: Uint8Array,
  psk: Uint8Array = EMPTY,
  pskId: Uint8Array = EMPTY,
): HpkeContext {
  const gotPsk = psk.length > 0;
  const gotPskId = pskId.length > 0;
  if (gotPsk !== gotPskId) throw new ProtocolError("malformed", "HPKE psk and psk_id must come together");
  const pskMode = mode === MODE_PSK || mode === MODE_AUTH_PSK;
  if (gotPsk !== pskMode) throw new ProtocolError("malformed", "HPKE psk presence does not match the mode");
  // §9.5: a PSK needs at least 32 bytes of entropy; a shorter one is refused outright.
  if (gotPsk && psk.length < 32) throw new ProtocolError("malformed", "HPKE psk shorter than 32 bytes");

  const pskIdHash = labeledExtract(HPKE_SUITE_ID, EMPTY, "psk_id_hash", pskId);
  const infoHash = labeledExtract(HPKE_SUITE_ID, EMPTY, "info_hash", info);
  const keyScheduleContext = concat(Uint8Array.of(mode), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE_ID, sharedSecret, "secret", psk);
  return new HpkeContext(
    labeledExpand(HPKE_SUITE_ID, secret, "key", keyScheduleContext, N_K),
    labeledExpand(HPKE_SUITE_ID, secret, "base_nonce", keyScheduleContext, N_N),
    labeledExpand(HPKE_SUITE_ID, secret, "exp", keyScheduleContext, N_H),
  );
}

export type SenderSetup = { enc: Uint8Array; ctx: HpkeContext };

export function setupBaseS(pkR: Uint8Array, info: Uint8Array, opts: SenderOptions = {}): SenderSetup {
  const { sharedSecret, enc } = encap(pkR, opts);
  return { enc, ctx: keySchedule(MODE_BASE, sharedSecret, info) };
}

export function setupBaseR(enc: Uint8Array, skR: Uint8Array, info: Uint8Array): HpkeContext {
  return keySchedule(MODE_BASE, decap(enc, skR), info);
}

export function setupPSKS(
  pkR: Uint8Array,
  info: Uint8Array,
  psk: Uint8Array,
  pskId: Uint8Array,
  opts: SenderOptions = {},
): SenderSetup {
  const { sharedSecret, enc } = encap(pkR, opts);
  return { enc, ctx: keySchedule(MODE_PSK, sharedSecret, info, psk, pskId) };
}

export function setupPSKR(
  enc: Uint8Array,
  skR: Uint8Array,
  info: Uint8Array,
  psk: Uint8Array,
  pskId: Uint8Array,
): HpkeContext {
  return keySchedule(MODE_PSK, decap(enc, skR), info, psk, pskId);
}

export function setupAuthS(pkR: Uint8Array, info: Uint8Array, skS: Uint8Array, opts: SenderOptions = {}): SenderSetup {
  const { sharedSecret, enc } = authEncap(pkR, skS, opts);
  return { enc, ctx: keySchedule(MODE_AUTH, sharedSecret, info) };
}

export function setupAuthR(enc: Uint8Array, skR: Uint8Array, info: Uint8Array, pkS: Uint8Array): HpkeContext {
  return keySchedule(MODE_AUTH, authDecap(enc, skR, pkS), info);
}

export function setupAuthPSKS(
  pkR: Uint8Array,
  info: Uint8Array,
  psk: Uint8Array,
  pskId: Uint8Array,
  skS: Uint8Array,
  opts: SenderOptions = {},
): SenderSetup {
  const { sharedSecret, enc } = authEncap(pkR, skS, opts);
  return { enc, ctx: keySchedule(MODE_AUTH_PSK, sharedSecret, info, psk, pskId) };
}

export function setupAuthPSKR(
  enc: Uint8Array,
  skR: Uint8Array,
  info: Uint8Array,
  psk: Uint8Array,
  pskId: Uint8Array,
  pkS: Uint8Array,
): HpkeContext {
  return keySchedule(MODE_AUTH_PSK, authDecap(enc, skR, pkS), info, psk, pskId);
}
