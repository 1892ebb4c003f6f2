// The noble twins of the native primitives (src/protocol/primitives.ts): the reference the
// tests require native X25519 and Argon2id to agree with. Test-only, so they do not ship.

import { x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { argon2idAsync } from "@noble/hashes/argon2.js";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { X25519_KEY_LENGTH, checkArgon2, checkLength, type Argon2Extra, type Argon2Params } from "../../src/protocol/primitives.ts";

/** Reference X25519 (@noble/curves), for agreement tests; same checks as x25519. */
export function x25519Noble(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  checkLength(secretKey, X25519_KEY_LENGTH, "X25519 secret key");
  checkLength(publicKey, X25519_KEY_LENGTH, "X25519 public key");
  let out: Uint8Array;
  try {
    out = nobleX25519.getSharedSecret(secretKey, publicKey);
  } catch {
    // noble throws only for the all-zero result once lengths are right.
    throw new ProtocolError("low-order", "X25519 shared secret is all zero");
  }
  if (out.every((b) => b === 0)) throw new ProtocolError("low-order", "X25519 shared secret is all zero");
  return out;
}

/** Reference Argon2id (@noble/hashes), same signature as argon2id, for agreement tests. */
export function argon2idNoble(
  password: Uint8Array,
  salt: Uint8Array,
  params: Argon2Params,
  extra: Argon2Extra = {},
): Promise<Uint8Array> {
  checkArgon2(password, salt, params);
  return argon2idAsync(password, salt, {
    m: params.memoryKiB,
    t: params.passes,
    p: params.parallelism,
    dkLen: params.tagLength,
    ...(extra.secret ? { key: extra.secret } : {}),
    ...(extra.associatedData ? { personalization: extra.associatedData } : {}),
  });
}
