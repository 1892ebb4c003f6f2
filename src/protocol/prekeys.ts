// Prekeys (SPEC.md §12.1): hybrid keys (X25519 + ML-KEM-768) a client leaves at its relay so
// that mail can be sealed to it while it is offline. Same layout as a SignedSessionKey, signed
// by the identity key under a label of their own, so that no kind can pass for another.

import { ProtocolError } from "./errors.ts";
import { keyAnnouncementMessage } from "./keys.ts";
import { checkLength, ed25519Sign, ed25519Verify } from "./primitives.ts";
import type { SignedSessionKey } from "./messages.ts";

export const LABEL_SIGNED_PREKEY = "smsg/2 signed prekey";
export const LABEL_ONE_TIME_PREKEY = "smsg/2 one-time prekey";

export type PrekeyKind = "signed" | "one-time";

/** A prekey travels in the `key` layout: identityPub, pub, kemPub, issuedAt, sig. */
export type SignedPrekey = SignedSessionKey;

function labelOf(kind: PrekeyKind): string {
  return kind === "signed" ? LABEL_SIGNED_PREKEY : LABEL_ONE_TIME_PREKEY;
}

export function prekeyMessage(kind: PrekeyKind, user: string, pub: Uint8Array, kemPub: Uint8Array, issuedAtMs: number): Uint8Array {
  return keyAnnouncementMessage(labelOf(kind), user, pub, kemPub, issuedAtMs);
}

export function signPrekey(kind: PrekeyKind, identitySeed: Uint8Array, user: string, pub: Uint8Array, kemPub: Uint8Array, issuedAtMs: number): Uint8Array {
  return ed25519Sign(identitySeed, prekeyMessage(kind, user, pub, kemPub, issuedAtMs));
}

/** Throws "bad-signature" unless k is a prekey of this kind signed by its identityPub for user. */
export function verifyPrekey(kind: PrekeyKind, user: string, k: SignedPrekey, verify: typeof ed25519Verify = ed25519Verify): void {
  checkLength(k.identityPub, 32, "identity public key");
  checkLength(k.sig, 64, "signature");
  if (!verify(k.identityPub, prekeyMessage(kind, user, k.sessionPub, k.sessionKemPub, k.issuedAt), k.sig)) {
    throw new ProtocolError("bad-signature", `${kind} prekey signature did not verify`);
  }
}
