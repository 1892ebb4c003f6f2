// What the mailbox, the local API and `smsg contacts` show of each pinned identity (SPEC.md
// §8.3): the key and its safety number, and a changed key with its own, so a person can check
// the one they will accept and Accept can carry that very key (a relay may swap it meanwhile).

import { safetyNumber } from "../protocol/keys.ts";
import type { Contact } from "./store.ts";
import type { ContactView } from "../views/contact-view.ts";
import { toHex as hex } from "../protocol/bytes.ts";

export function contactView(me: { user: string; identity: Uint8Array }, k: Contact): ContactView {
  return {
    user: k.user,
    identity: hex(k.identity),
    safetyNumber: safetyNumber(me.user, me.identity, k.user, k.identity),
    changed: k.changedIdentity !== null,
    newIdentity: k.changedIdentity ? hex(k.changedIdentity) : null,
    newSafetyNumber: k.changedIdentity ? safetyNumber(me.user, me.identity, k.user, k.changedIdentity) : null,
    passwordChangedAt: k.passwordChangedAt === null ? null : new Date(k.passwordChangedAt).toISOString(),
  };
}

/** The `key` field of an Accept: the 64 hex digits of the changed identity key that was checked. */
export const ACCEPT_KEY = /^[0-9a-f]{64}$/;
