// ML-KEM-768 (FIPS 203) through the runtime's native WebCrypto (BoringSSL in Bun): key
// generation, encapsulation and decapsulation. Implements SPEC.md "Primitives" (§1.5, the
// ML-KEM-768 row). The reference twin for agreement tests is test/support/noble-pq.ts.

import { webcrypto } from "node:crypto";
import { ProtocolError } from "./errors.ts";
import { copyBytes } from "./bytes.ts";
import { checkLength } from "./primitives.ts";

/** FIPS 203 Table 3, ML-KEM-768: encapsulation key ek. */
export const MLKEM768_EK_LENGTH = 1184;
/** FIPS 203 Table 3, ML-KEM-768: ciphertext c. */
export const MLKEM768_CT_LENGTH = 1088;
/** The decapsulation key kept as its seed d || z (FIPS 203 §6.1 ML-KEM.KeyGen_internal). */
export const MLKEM768_SEED_LENGTH = 64;
/** FIPS 203 shared secret K. */
export const MLKEM768_SS_LENGTH = 32;

/**
 * A key pair as smsg keeps it: the 64-byte seed d || z instead of the 2400-byte expanded
 * decapsulation key. FIPS 203 allows keeping the seed (d, z) in place of dk; it is smaller, and a key made
 * from it cannot carry a mismatched embedded ek or H(ek) (the §7.3 decapsulation-key check
 * has nothing to catch).
 */
export type MlkemKeyPair = { seed: Uint8Array; encapsulationKey: Uint8Array };

export type MlkemEncapsulation = { ciphertext: Uint8Array; sharedSecret: Uint8Array };

const ALG = { name: "ML-KEM-768" } as const;
// The same object as the global crypto.subtle; imported from node:crypto for its types,
// which know the ML-KEM formats and methods.
const subtle = webcrypto.subtle;

// WebCrypto takes only views of a plain ArrayBuffer; a caller's array may be a view of a
// shared one. A private copy also fixes the bytes between our checks and their use.
function ownCopy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return copyBytes(bytes);
}

async function importSeed(seed: Uint8Array): Promise<webcrypto.CryptoKey> {
  const copy = ownCopy(seed);
  try {
    return await subtle.importKey("raw-seed", copy, ALG, false, ["decapsulateBits"]);
  } finally {
    copy.fill(0);
  }
}

/** ML-KEM.KeyGen (FIPS 203 §7.1) with the runtime's own randomness. */
export async function mlkemKeyGen(): Promise<MlkemKeyPair> {
  // Extractable once, to hand the seed to the caller; the CryptoKey is dropped on return.
  // An asymmetric algorithm always gives a pair; the typings cannot tell.
  const pair = (await subtle.generateKey(ALG, true, ["encapsulateBits", "decapsulateBits"])) as webcrypto.CryptoKeyPair;
  const [seed, encapsulationKey] = await Promise.all([
    subtle.exportKey("raw-seed", pair.privateKey),
    subtle.exportKey("raw-public", pair.publicKey),
  ]);
  return { seed: new Uint8Array(seed), encapsulationKey: new Uint8Array(encapsulationKey) };
}

/**
 * ML-KEM.KeyGen_internal(d, z) (FIPS 203 §6.1) from seed = d || z: deterministic, so a
 * stored seed gives back its ek, and vectors can pin key generation.
 */
export async function mlkemKeyGenFromSeed(seed: Uint8Array): Promise<MlkemKeyPair> {
  checkLength(seed, MLKEM768_SEED_LENGTH, "ML-KEM-768 seed");
  const dk = await importSeed(seed);
  const ek = await subtle.getPublicKey(dk, ["encapsulateBits"]);
  const encapsulationKey = new Uint8Array(await subtle.exportKey("raw-public", ek));
  return { seed: copyBytes(seed), encapsulationKey };
}

/**
 * ML-KEM.Encaps(ek) (FIPS 203 §7.2). The randomness m is drawn by the runtime and cannot
 * be pinned; vectors with a fixed m run through the noble twin.
 */
export async function mlkemEncaps(encapsulationKey: Uint8Array): Promise<MlkemEncapsulation> {
  checkLength(encapsulationKey, MLKEM768_EK_LENGTH, "ML-KEM-768 encapsulation key");
  let ek: webcrypto.CryptoKey;
  try {
    ek = await subtle.importKey("raw-public", ownCopy(encapsulationKey), ALG, false, ["encapsulateBits"]);
  } catch (e) {
    // With the length already checked, BoringSSL refuses a key only for the FIPS 203 §7.2
    // modulus check (a coefficient >= q). Such a key is a peer's attempt to get us to
    // encapsulate to something that is not an ML-KEM key; the Wycheproof vectors in
    // test/protocol/mlkem.test.ts pin that the native import does this check.
    if (e instanceof DOMException && e.name === "DataError") {
      throw new ProtocolError("malformed", "ML-KEM-768 encapsulation key is not reduced modulo q");
    }
    throw e;
  }
  const { sharedKey, ciphertext } = await subtle.encapsulateBits(ALG, ek);
  return { ciphertext: new Uint8Array(ciphertext), sharedSecret: new Uint8Array(sharedKey) };
}

/**
 * ML-KEM.Decaps(dk, c) (FIPS 203 §7.3) with dk given as its seed. A ciphertext of the right
 * length is never refused: a tampered one yields the implicit-rejection secret
 * J(z || c), which simply fails to match the sender's, so no decryption oracle exists.
 */
export async function mlkemDecaps(seed: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  checkLength(seed, MLKEM768_SEED_LENGTH, "ML-KEM-768 seed");
  checkLength(ciphertext, MLKEM768_CT_LENGTH, "ML-KEM-768 ciphertext");
  const dk = await importSeed(seed);
  return new Uint8Array(await subtle.decapsulateBits(ALG, dk, ownCopy(ciphertext)));
}

/**
 * An ephemeral ML-KEM-768 key pair held as the runtime's key object: the `e1` key of the
 * handshake (SPEC.md §3.1), and the ML-KEM half of a connection's session key (§5.1), which
 * decapsulates every message sealed to that connection. Its decapsulation key never leaves
 * WebCrypto and is imported once, not exported and imported again for each decapsulation.
 */
export interface MlkemEphemeral {
  readonly encapsulationKey: Uint8Array;
  decapsulate(ciphertext: Uint8Array): Promise<Uint8Array>;
}

function ephemeralOf(dk: webcrypto.CryptoKey, encapsulationKey: Uint8Array): MlkemEphemeral {
  return {
    encapsulationKey,
    async decapsulate(ciphertext: Uint8Array): Promise<Uint8Array> {
      checkLength(ciphertext, MLKEM768_CT_LENGTH, "ML-KEM-768 ciphertext");
      return new Uint8Array(await subtle.decapsulateBits(ALG, dk, ownCopy(ciphertext)));
    },
  };
}

/** ML-KEM.KeyGen (FIPS 203 §7.1) for one handshake or one connection: non-extractable, never stored. */
export async function mlkemEphemeral(): Promise<MlkemEphemeral> {
  const pair = (await subtle.generateKey(ALG, false, ["encapsulateBits", "decapsulateBits"])) as webcrypto.CryptoKeyPair;
  return ephemeralOf(pair.privateKey, new Uint8Array(await subtle.exportKey("raw-public", pair.publicKey)));
}

/** ML-KEM.KeyGen_internal(d, z) as an ephemeral: the handshake vectors pin the seed (Appendix B.8). */
export async function mlkemEphemeralFromSeed(seed: Uint8Array): Promise<MlkemEphemeral> {
  checkLength(seed, MLKEM768_SEED_LENGTH, "ML-KEM-768 seed");
  const dk = await importSeed(seed);
  const ek = await subtle.getPublicKey(dk, ["encapsulateBits"]);
  return ephemeralOf(dk, new Uint8Array(await subtle.exportKey("raw-public", ek)));
}
