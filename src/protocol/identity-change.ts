// A password change's identity-change statement (SPEC.md §5.5): the user's old identity key
// signs the new one, bound to the user id and a time, so that contacts who pinned the old key
// move their pin without the hold an unexplained change gets. The relay stores and serves
// statements (CHANGE_CODE, GET_CHANGES, §4) but cannot make one: only the old key signs.

import { ProtocolError } from "./errors.ts";
import { bytesEqual } from "./bytes.ts";
import { checkLength, ed25519Sign, ed25519Verify } from "./primitives.ts";
import { userStatement } from "./keys.ts";

export const LABEL_IDENTITY_CHANGE = "smsg/1 identity change";
/** oldIdentityPub[32] || newIdentityPub[32] || changedAt: u64 || sig[64]. */
export const IDENTITY_CHANGE_LEN = 136;
/** Statements the relay keeps per user, newest last (older ones are dropped, SPEC.md §3.3). */
export const MAX_CHANGES = 16;

export interface IdentityChange {
  oldIdentityPub: Uint8Array;
  newIdentityPub: Uint8Array;
  changedAt: number; // ms since the epoch, the changing client's clock
  sig: Uint8Array;
}

/**
 * The signed bytes: utf8(LABEL_IDENTITY_CHANGE) || 0x00 || u8 len || utf8(user) ||
 * oldIdentityPub || newIdentityPub || u64be changedAt. The user is inside so a statement
 * cannot be presented as another user's; both keys so it names one step of one chain.
 */
export function identityChangeMessage(user: string, oldPub: Uint8Array, newPub: Uint8Array, changedAt: number): Uint8Array {
  const fields = [[oldPub, 32, "old identity key"], [newPub, 32, "new identity key"]] as const;
  return userStatement(LABEL_IDENTITY_CHANGE, user, fields, changedAt, "changedAt");
}

export function signIdentityChange(
  oldSeed: Uint8Array,
  user: string,
  oldPub: Uint8Array,
  newPub: Uint8Array,
  changedAt: number,
): IdentityChange {
  if (bytesEqual(oldPub, newPub)) throw new ProtocolError("malformed", "the new identity key is the old one");
  return { oldIdentityPub: oldPub, newIdentityPub: newPub, changedAt, sig: ed25519Sign(oldSeed, identityChangeMessage(user, oldPub, newPub, changedAt)) };
}

/** Throws "bad-signature" unless the old key signed this step for this user (strict, §1.5). */
export function verifyIdentityChange(user: string, c: IdentityChange, verify: typeof ed25519Verify = ed25519Verify): void {
  checkLength(c.sig, 64, "signature");
  if (bytesEqual(c.oldIdentityPub, c.newIdentityPub)) throw new ProtocolError("malformed", "a change to the same key");
  if (!verify(c.oldIdentityPub, identityChangeMessage(user, c.oldIdentityPub, c.newIdentityPub, c.changedAt), c.sig)) {
    throw new ProtocolError("bad-signature", "identity change signature did not verify");
  }
}

export function encodeIdentityChange(c: IdentityChange): Uint8Array {
  checkLength(c.oldIdentityPub, 32, "old identity key");
  checkLength(c.newIdentityPub, 32, "new identity key");
  checkLength(c.sig, 64, "signature");
  const out = new Uint8Array(IDENTITY_CHANGE_LEN);
  out.set(c.oldIdentityPub);
  out.set(c.newIdentityPub, 32);
  new DataView(out.buffer).setBigUint64(64, BigInt(c.changedAt), false);
  out.set(c.sig, 72);
  return out;
}

export function decodeIdentityChange(b: Uint8Array): IdentityChange {
  if (b.length !== IDENTITY_CHANGE_LEN) throw new ProtocolError("malformed", "identity change length");
  const at = new DataView(b.buffer, b.byteOffset, b.length).getBigUint64(64, false);
  if (at > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError("malformed", "u64 above 2^53-1");
  return { oldIdentityPub: b.slice(0, 32), newIdentityPub: b.slice(32, 64), changedAt: Number(at), sig: b.slice(72, 136) };
}

/**
 * Does a chain of signed steps lead from the pinned key to the presented one? Each step
 * must be signed by the key the chain stands at; a key with two different successors is a
 * fork, which only someone holding an old password together with a hostile relay can make,
 * and is refused as a whole. Returns the last step's changedAt, or undefined when the
 * statements do not explain the change (the contact then holds mail as before, §5.1).
 */
export function followIdentityChain(user: string, pinned: Uint8Array, presented: Uint8Array, statements: IdentityChange[]): number | undefined {
  const valid = statements.filter((c) => {
    try {
      verifyIdentityChange(user, c);
      return true;
    } catch {
      return false;
    }
  });
  let at = pinned;
  let when: number | undefined;
  for (let steps = 0; steps < valid.length && !bytesEqual(at, presented); steps++) {
    const next = valid.filter((c) => bytesEqual(c.oldIdentityPub, at));
    if (next.length === 0) return undefined;
    if (next.some((c) => !bytesEqual(c.newIdentityPub, next[0]!.newIdentityPub))) return undefined;
    at = next[0]!.newIdentityPub;
    when = Math.max(...next.map((c) => c.changedAt));
  }
  return bytesEqual(at, presented) && when !== undefined ? when : undefined;
}
