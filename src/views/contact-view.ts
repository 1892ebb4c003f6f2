// One pinned identity as the contacts page, the local API and `smsg contacts` show it (SPEC.md
// §8.3): plain data the client computes (client/contact-list.ts) and the views take as props.

export interface ContactView {
  user: string;
  /** The pinned identity key, hex. */
  identity: string;
  safetyNumber: string;
  changed: boolean;
  /** The changed identity key waiting for Accept or Reject, hex; null when none. */
  newIdentity: string | null;
  newSafetyNumber: string | null;
  /**
   * When the pinned key last moved by the contact's own signed statement (they changed their
   * password, SPEC.md §5.5), ISO time; null if it never did or a later change was accepted by hand.
   */
  passwordChangedAt: string | null;
}
