// The reference twin of src/protocol/mlkem.ts: ML-KEM-768 (FIPS 203) through
// @noble/post-quantum, for agreement tests and for vectors that fix the encapsulation
// randomness m, which the native WebCrypto cannot take. Tests only: never on a hot path.

import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { ProtocolError } from "../../src/protocol/errors.ts";
import {
  MLKEM768_CT_LENGTH,
  MLKEM768_EK_LENGTH,
  MLKEM768_SEED_LENGTH,
  type MlkemEncapsulation,
  type MlkemKeyPair,
} from "../../src/protocol/mlkem.ts";
import { checkLength } from "../../src/protocol/primitives.ts";

/** FIPS 203 Table 3, ML-KEM-768: the expanded decapsulation key dk. */
export const MLKEM768_DK_LENGTH = 2400;
const M_LENGTH = 32;

/** ML-KEM.KeyGen_internal(d, z); also returns noble's expanded dk for the vectors that have it. */
export function mlkemKeyGenNoble(seed: Uint8Array): MlkemKeyPair & { decapsulationKey: Uint8Array } {
  checkLength(seed, MLKEM768_SEED_LENGTH, "ML-KEM-768 seed");
  const { publicKey, secretKey } = ml_kem768.keygen(seed);
  return { seed: Uint8Array.from(seed), encapsulationKey: publicKey, decapsulationKey: secretKey };
}

/** ML-KEM.Encaps_internal(ek, m) when m is given, else ML-KEM.Encaps(ek); same checks as mlkemEncaps. */
export function mlkemEncapsNoble(encapsulationKey: Uint8Array, m?: Uint8Array): MlkemEncapsulation {
  checkLength(encapsulationKey, MLKEM768_EK_LENGTH, "ML-KEM-768 encapsulation key");
  if (m !== undefined) checkLength(m, M_LENGTH, "ML-KEM-768 encapsulation randomness");
  try {
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(encapsulationKey, m);
    return { ciphertext: cipherText, sharedSecret };
  } catch (e) {
    // noble's FIPS 203 §7.2 modulus check; anything else is a bug and propagates.
    if (e instanceof Error && e.message.includes("wrong publicKey modulus")) {
      throw new ProtocolError("malformed", "ML-KEM-768 encapsulation key is not reduced modulo q");
    }
    throw e;
  }
}

/** ML-KEM.Decaps with dk given as its seed d || z; same checks as mlkemDecaps. */
export function mlkemDecapsNoble(seed: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  checkLength(seed, MLKEM768_SEED_LENGTH, "ML-KEM-768 seed");
  checkLength(ciphertext, MLKEM768_CT_LENGTH, "ML-KEM-768 ciphertext");
  const { secretKey } = ml_kem768.keygen(seed);
  try {
    return ml_kem768.decapsulate(ciphertext, secretKey);
  } finally {
    secretKey.fill(0);
  }
}
