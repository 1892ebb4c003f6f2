// The primitives everything else is built from: X25519, AES-256-GCM, SHA-256, HMAC, HKDF
// and Argon2id run natively through node:crypto (OpenSSL), Ed25519 through @noble/curves.
// Implements SPEC.md "Primitives". The *Noble twins exist so tests can cross-check.

import {
  argon2 as nodeArgon2,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hash,
  hkdfSync,
  randomFillSync,
  verify as cryptoVerify,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ProtocolError } from "./errors.ts";
import { concat, copyBytes } from "./bytes.ts";

/** Source of randomness; a parameter everywhere so tests can pin it. */
export type Rand = (n: number) => Uint8Array;

export type KeyPair = { secretKey: Uint8Array; publicKey: Uint8Array };

export type Argon2Params = {
  memoryKiB: number;
  passes: number;
  parallelism: number;
  tagLength: number;
};

/** RFC 9106 inputs K (secret) and X (associated data); smsg itself uses neither. */
export type Argon2Extra = { secret?: Uint8Array; associatedData?: Uint8Array };

export const X25519_KEY_LENGTH = 32;
export const AES_GCM_KEY_LENGTH = 32;
export const AES_GCM_NONCE_LENGTH = 12;
export const AES_GCM_TAG_LENGTH = 16;

// RFC 8410 DER wrappings of a raw X25519 key: PKCS#8 PrivateKeyInfo and SPKI.
// OpenSSL only takes X25519 keys as KeyObjects, and these fixed prefixes are the
// cheapest portable way to build one from 32 raw bytes.
const PKCS8_PREFIX = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
);
const SPKI_PREFIX = Uint8Array.of(
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00,
);

export function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new ProtocolError("malformed", `${what} must be ${length} bytes`);
  }
}

/** Whether two byte strings are equal, in time that depends only on their lengths: for MACs, receipts and proofs. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function randomBytes(n: number): Uint8Array {
  // A fresh, unpooled array: random key material never shares memory with other data.
  return randomFillSync(new Uint8Array(n));
}

// OpenSSL derives the public key when it imports a private one: a scalar multiplication,
// half the cost of the DH itself. So the KeyObject made for a key array is remembered with
// that array (a WeakMap: it lives exactly as long as the caller's array), and a handshake
// or a seal that uses one key twice, or the relay's static key in every login, imports it
// once. Each use checks that the array still holds the bytes the KeyObject was made from;
// for a secret that check is by SHA-256, so no second copy of the secret is kept in JS.
const privateKeys = new WeakMap<Uint8Array, { digest: Uint8Array; key: KeyObject }>();
const publicKeys = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>();

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  const digest = sha256(secretKey);
  const known = privateKeys.get(secretKey);
  if (known && timingSafeEqual(known.digest, digest)) return known.key;
  // The DER copy is wiped at once: the key lives on only inside the KeyObject.
  const der = new Uint8Array(PKCS8_PREFIX.length + X25519_KEY_LENGTH);
  der.set(PKCS8_PREFIX);
  der.set(secretKey, PKCS8_PREFIX.length);
  try {
    const key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    privateKeys.set(secretKey, { digest, key });
    return key;
  } finally {
    der.fill(0);
  }
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const known = publicKeys.get(publicKey);
  if (known && timingSafeEqual(known.bytes, publicKey)) return known.key;
  const der = new Uint8Array(SPKI_PREFIX.length + X25519_KEY_LENGTH);
  der.set(SPKI_PREFIX);
  der.set(publicKey, SPKI_PREFIX.length);
  const key = createPublicKey({ key: der, format: "der", type: "spki" });
  publicKeys.set(publicKey, { bytes: copyBytes(publicKey), key });
  return key;
}

export function x25519PublicKey(secretKey: Uint8Array): Uint8Array {
  checkLength(secretKey, X25519_KEY_LENGTH, "X25519 secret key");
  const spki = createPublicKey(privateKeyObject(secretKey)).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
}

export function x25519Generate(rand: Rand = randomBytes): KeyPair {
  const secretKey = rand(X25519_KEY_LENGTH);
  return { secretKey, publicKey: x25519PublicKey(secretKey) };
}

function isAllZero(bytes: Uint8Array): boolean {
  // Constant-time OR: the shared secret must not leak through an early exit.
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

/**
 * X25519(secretKey, publicKey) per RFC 7748. An all-zero result means the peer sent a
 * low-order point (RFC 7748 §6.1) and would let it fix our shared secret, so it throws.
 */
export function x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkLength(secretKey, X25519_KEY_LENGTH, "X25519 secret key");
  checkLength(publicKey, X25519_KEY_LENGTH, "X25519 public key");
  let shared: Uint8Array;
  try {
    shared = diffieHellman({
      privateKey: privateKeyObject(secretKey),
      publicKey: publicKeyObject(publicKey),
    });
  } catch (e) {
    // OpenSSL refuses exactly the all-zero output with this generic failure.
    if ((e as { code?: unknown }).code === "ERR_CRYPTO_OPERATION_FAILED") {
      throw new ProtocolError("low-order", "X25519 shared secret is all zero");
    }
    throw e;
  }
  const out = new Uint8Array(shared);
  shared.fill(0);
  if (isAllZero(out)) throw new ProtocolError("low-order", "X25519 shared secret is all zero");
  return out;
}

/** An AES-256-GCM encryptor with a checked key and 96-bit nonce, its AAD already given. */
function gcmCipher(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) {
  checkLength(key, AES_GCM_KEY_LENGTH, "AES-256-GCM key");
  checkLength(nonce, AES_GCM_NONCE_LENGTH, "AES-GCM nonce");
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: AES_GCM_TAG_LENGTH });
  cipher.setAAD(aad);
  return cipher;
}

/** AES-256-GCM with a 96-bit nonce; returns ciphertext || 16-byte tag. */
export function aesGcmSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const cipher = gcmCipher(key, nonce, aad);
  const out = new Uint8Array(plaintext.length + AES_GCM_TAG_LENGTH);
  const body = cipher.update(plaintext);
  out.set(body);
  const rest = cipher.final();
  out.set(rest, body.length);
  out.set(cipher.getAuthTag(), body.length + rest.length);
  return out;
}

/**
 * aesGcmSeal over the concatenation of parts, returned as pieces whose concatenation is
 * ciphertext || tag: the same bytes, without joining the input or the output (GCM is a
 * stream, so where the input is cut changes nothing). The writer joins them once.
 */
export function aesGcmSealParts(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  parts: readonly Uint8Array[],
): Uint8Array[] {
  const cipher = gcmCipher(key, nonce, aad);
  const out: Uint8Array[] = [];
  for (const p of parts) {
    const c = cipher.update(p);
    if (c.length > 0) out.push(c);
  }
  const rest = cipher.final();
  if (rest.length > 0) out.push(rest);
  out.push(cipher.getAuthTag());
  return out;
}

/** Opens ciphertext || tag; nothing is returned unless the tag verifies. */
export function aesGcmOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertextWithTag: Uint8Array,
): Uint8Array {
  checkLength(key, AES_GCM_KEY_LENGTH, "AES-256-GCM key");
  checkLength(nonce, AES_GCM_NONCE_LENGTH, "AES-GCM nonce");
  if (ciphertextWithTag.length < AES_GCM_TAG_LENGTH) {
    throw new ProtocolError("malformed", "AES-GCM ciphertext shorter than its tag");
  }
  const split = ciphertextWithTag.length - AES_GCM_TAG_LENGTH;
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, {
    authTagLength: AES_GCM_TAG_LENGTH,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(ciphertextWithTag.subarray(split));
  const body = decipher.update(ciphertextWithTag.subarray(0, split));
  try {
    decipher.final(); // GCM has no bytes left to give: this only checks the tag
  } catch {
    // Unauthenticated plaintext must not survive a failed tag check.
    body.fill(0);
    throw new ProtocolError("bad-tag", "AES-GCM tag did not verify");
  }
  if (body.length < LARGE) {
    const out = new Uint8Array(body);
    body.fill(0);
    return out;
  }
  // A large plaintext (a 60 KiB STREAM chunk) stays where OpenSSL wrote it: one more
  // allocation and copy of it per record cost more than the AES itself (bench/README.md).
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

/** Buffers from this size on are never carved from a shared pool, so a view of one is private. */
const LARGE = 4096;

/**
 * SHA-256, native (OpenSSL): several times faster than a JS hash on short inputs. One-shot:
 * a `createHash` object is a stream, and Noise hashes about ten short inputs per login on
 * each side; joining the parts first (then wiping the join, which may hold a secret) costs
 * less than that object.
 */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return toBytes(hash("sha256", parts[0]!, "buffer"));
  const joined = concat(...parts);
  try {
    return toBytes(hash("sha256", joined, "buffer"));
  } finally {
    joined.fill(0);
  }
}

/** SHA-512 (FIPS 180-4) of the concatenated parts, native. */
export function sha512(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha512");
  for (const p of parts) h.update(p);
  return toBytes(h.digest());
}

/** HMAC-SHA256 (RFC 2104) of the concatenated parts, native. */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return toBytes(h.digest());
}

/**
 * RFC 5869 HKDF-SHA256 (Extract then Expand) in one native call: a third of the cost of
 * the HMACs done one by one, which matters in Noise's HKDF (five per login at the relay).
 * The salt may be empty (the RFC's 32 zero bytes), and so may ikm (Noise's Split).
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 1 || length > 255 * 32) {
    throw new ProtocolError("malformed", "HKDF output length out of range");
  }
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, length));
}

/** RFC 5869 HKDF-Extract with SHA-256; an empty salt is the RFC's 32 zero bytes (HMAC pads the key with zeros). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmacSha256(salt, ikm);
}

/** RFC 5869 HKDF-Expand with SHA-256: at most 255 blocks of 32 bytes. */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > 255 * 32) {
    throw new ProtocolError("malformed", "HKDF output length out of range");
  }
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 0, off = 0; off < length; i++, off += 32) {
    t = hmacSha256(prk, t, info, Uint8Array.of(i + 1));
    out.set(t.subarray(0, Math.min(32, length - off)), off);
  }
  return out;
}

// A plain Uint8Array, as every other primitive returns: copying 32 bytes is cheaper than
// the view (reading a Buffer's .buffer makes the engine materialise an ArrayBuffer).
function toBytes(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

export function checkArgon2(password: Uint8Array, salt: Uint8Array, params: Argon2Params): void {
  const { memoryKiB, passes, parallelism, tagLength } = params;
  const int = (v: number, min: number, max: number) => Number.isSafeInteger(v) && v >= min && v <= max;
  // RFC 9106 §3.1 ranges; checked here so both implementations reject the same inputs.
  if (
    !int(parallelism, 1, 0xffffff) ||
    !int(tagLength, 4, 0xffffffff) ||
    !int(passes, 1, 0xffffffff) ||
    !int(memoryKiB, 8 * parallelism, 0xffffffff)
  ) {
    throw new ProtocolError("malformed", "Argon2id parameters out of range");
  }
  if (!(password instanceof Uint8Array)) throw new ProtocolError("malformed", "password must be bytes");
  if (!(salt instanceof Uint8Array) || salt.length < 8) {
    throw new ProtocolError("malformed", "Argon2id salt must be at least 8 bytes");
  }
}

/** Argon2id v1.3 (RFC 9106), native; runs on the libuv thread pool, not the event loop. */
export function argon2id(
  password: Uint8Array,
  salt: Uint8Array,
  params: Argon2Params,
  extra: Argon2Extra = {},
): Promise<Uint8Array> {
  checkArgon2(password, salt, params);
  return new Promise((resolve, reject) => {
    nodeArgon2(
      "argon2id",
      {
        message: password,
        nonce: salt,
        parallelism: params.parallelism,
        tagLength: params.tagLength,
        memory: params.memoryKiB,
        passes: params.passes,
        ...(extra.secret ? { secret: extra.secret } : {}),
        ...(extra.associatedData ? { associatedData: extra.associatedData } : {}),
      },
      (err, key) => {
        if (err) reject(new ProtocolError("malformed", "Argon2id rejected its parameters"));
        else {
          const out = new Uint8Array(key);
          key.fill(0);
          resolve(out);
        }
      },
    );
  });
}

export const ED25519_SEED_LENGTH = 32;
export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  checkLength(seed, ED25519_SEED_LENGTH, "Ed25519 seed");
  return ed25519.getPublicKey(seed);
}

export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  checkLength(seed, ED25519_SEED_LENGTH, "Ed25519 seed");
  return ed25519.sign(message, seed);
}

/**
 * SPEC.md §1.5 "Ed25519 verification": RFC 8032 with the strict encoding rules
 * (zip215: false: non-canonical A or R, S >= L and a small-order A are rejected), and A and R
 * must lie in the prime-order subgroup. With that, noble's cofactored equation and the
 * cofactorless one of OpenSSL or libsodium accept exactly the same signatures, so
 * implementations on either kind of library agree (Appendix B.7 has the cases).
 */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH || signature.length !== ED25519_SIGNATURE_LENGTH) {
    return false;
  }
  try {
    if (!ed25519.verify(signature, message, publicKey, { zip215: false })) return false;
    const torsionFree = (b: Uint8Array) => ed25519.Point.fromBytes(b).isTorsionFree();
    return torsionFree(publicKey) && torsionFree(signature.subarray(0, 32));
  } catch {
    return false;
  }
}

const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/**
 * OpenSSL's check, several times faster: for the relay's hot path, where the signature is
 * only a filter (every client verifies again with ed25519Verify). OpenSSL checks the
 * cofactorless equation and not the key's encoding or order, so it never refuses what
 * ed25519Verify accepts but accepts a few signatures it refuses (a small-order or
 * non-canonical A: SPEC.md §1.5 allows the relay that). Tests run all of Wycheproof's
 * Ed25519 cases and SPEC's Appendix B.7 through both.
 */
export function ed25519VerifyNative(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_KEY_LENGTH || signature.length !== ED25519_SIGNATURE_LENGTH) {
    return false;
  }
  try {
    const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
    return cryptoVerify(null, message, key, signature);
  } catch {
    return false;
  }
}
