// The relay's cap on what a transfer's window may grow to (SPEC.md §6.3 "The window", §6.5):
// a recipient asks for credit in WINDOW's `limit`, and the relay forwards to the sender at
// most what its budgets allow, per transfer and over all transfers; the sender obeys what it
// was forwarded and the relay enforces exactly that.

import { WINDOW_CHUNKS } from "../protocol/messages.ts";
import type { Transfer } from "./transfer.ts";

/** The bytes one full CHUNK carries: credit is counted in these (SPEC.md §5.4). */
export const CHUNK_BYTES = 61_456;

export interface WindowLimits {
  /** Credit of one transfer beyond its base window, bytes. */
  perTransfer: number;
  /** Credit of all transfers beyond their base windows together, bytes. */
  total: number;
  /**
   * Extra credit for a transfer whose sender the relay cannot hold back by TCP (one on another
   * node, SPEC.md §10), bytes: there, credit lands in the recipient's unread output.
   */
  unpausable: number;
}

export class WindowBudget {
  readonly #perTransfer: number; // chunks
  readonly #total: number; // chunks
  readonly #unpausable: number; // chunks
  /** Extra chunks granted and not yet consumed, over all transfers. */
  used = 0;

  constructor(limits: WindowLimits) {
    this.#perTransfer = Math.floor(limits.perTransfer / CHUNK_BYTES);
    this.#total = Math.floor(limits.total / CHUNK_BYTES);
    this.#unpausable = Math.floor(limits.unpausable / CHUNK_BYTES);
  }

  /**
   * The recipient consumed chunks < seq and asks for chunks < wanted (already checked:
   * wanted ≥ seq + WINDOW_CHUNKS). Returns the limit to forward: never below what was
   * forwarded before (a sender may already have used it), never below the base window,
   * and beyond that only what the budgets hold. congested: the recipient's unread output is
   * over its share, so the path to it does not keep up: no extra credit.
   */
  grant(t: Transfer, seq: number, wanted: number, congested: boolean, pausable: boolean): number {
    this.used -= t.extra;
    let extra = Math.min(wanted - seq - WINDOW_CHUNKS, pausable ? this.#perTransfer : Math.min(this.#perTransfer, this.#unpausable));
    if (congested) extra = 0;
    extra = Math.max(0, Math.min(extra, this.#total - this.used));
    const limit = Math.max(t.limit, seq + WINDOW_CHUNKS + extra);
    // What the sender may now have outstanding beyond the base window, granted or not before.
    t.extra = limit - seq - WINDOW_CHUNKS;
    this.used += t.extra;
    return limit;
  }

  /** The transfer ended: its credit is free again. */
  release(t: Transfer): void {
    this.used -= t.extra;
    t.extra = 0;
  }
}
