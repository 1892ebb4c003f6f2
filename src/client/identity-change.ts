// A contact's identity key differs from the pin: before holding mail as for an unexplained
// change (SPEC.md §5.1), ask the relay for the contact's signed identity-change statements and
// move the pin if they lead from the pinned key to the presented one (SPEC.md §5.5). The relay
// can withhold statements (then mail is held as before) but cannot make one.

import { followIdentityChain } from "../protocol/identity-change.ts";
import type { Link } from "./relay-client.ts";
import type { Store } from "./store.ts";

/** True when the pin moved to `presented` by the contact's own statements. */
export async function explainIdentityChange(
  store: Store,
  link: Link,
  user: string,
  pinned: Uint8Array,
  presented: Uint8Array,
  now: () => number,
  log: (line: string) => void,
): Promise<boolean> {
  let changes;
  try {
    changes = await link.getChanges(user);
  } catch {
    return false; // no answer: treated as no statement; the next attempt asks again
  }
  const at = followIdentityChain(user, pinned, presented, changes);
  if (at === undefined) return false;
  if (!store.adoptChangedIdentity(user, pinned, presented, at, now())) return false;
  log(`${user} changed their password: their identity key moved by their signed statement`);
  return true;
}
