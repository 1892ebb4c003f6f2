// A password change in the client store (CLIENT.md §1.6): while it is under way both
// passwords open the store, each one's keys sealed under the other's store key, so that a
// crash or a lost relay at any step leaves one password (usually both) working. Committing
// re-wraps every per-message and per-attachment key under the new store key in one SQLite
// transaction; nothing else is re-encrypted.

import { utf8 } from "../protocol/codec.ts";
import { ed25519PublicKey, x25519PublicKey } from "../protocol/primitives.ts";
import type { UserKeys } from "../protocol/keys.ts";
import { openBox, sealBox } from "./store-keys.ts";

export const LABEL_STORE_CHANGE = "smsg/1 store change ";

/** meta keys of a change under way. */
export const CHANGE_META = {
  verifier: "change-verifier", // the new store key's verifier
  next: "change-next", // the new keys, sealed under the old store key
  old: "change-old", // the old keys, sealed under the new store key
  statement: "change-statement", // the old identity's signed statement (public)
} as const;

/** Both key sets of a change under way, and the statement naming the new identity. */
export interface PendingChange {
  old: UserKeys;
  next: UserKeys;
  statement: Uint8Array;
}

/** login secret || identity seed || store key: everything a password gives. */
export function sealKeys(under: Uint8Array, which: "old" | "next", k: UserKeys): Uint8Array {
  const pt = new Uint8Array(96);
  pt.set(k.login.secretKey);
  pt.set(k.identity.seed, 32);
  pt.set(k.storeKey, 64);
  const box = sealBox(under, utf8(LABEL_STORE_CHANGE + which), pt);
  pt.fill(0);
  return box;
}

/** The keys sealed by sealKeys, or undefined when `under` does not open the box. */
export function openKeys(under: Uint8Array, which: "old" | "next", box: Uint8Array): UserKeys | undefined {
  let pt: Uint8Array;
  try {
    pt = openBox(under, utf8(LABEL_STORE_CHANGE + which), box);
  } catch {
    return undefined;
  }
  const login = pt.slice(0, 32);
  const seed = pt.slice(32, 64);
  const storeKey = pt.slice(64, 96);
  pt.fill(0);
  return {
    login: { secretKey: login, publicKey: x25519PublicKey(login) },
    identity: { seed, publicKey: ed25519PublicKey(seed) },
    storeKey,
  };
}
