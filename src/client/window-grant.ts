// The recipient's side of a transfer's window (SPEC.md §6.3 "The window"): when to send
// WINDOW and how much credit to ask for. The credit follows what the path delivers: twice the
// chunks consumed over the last second, so over a path that keeps up it grows about threefold
// per round trip of 300 ms (like TCP's slow start, it is the deliveries that open it), and it
// falls back when deliveries slow down. The relay caps what it forwards (§6.5).

import { WINDOW_CHUNKS } from "../protocol/messages.ts";

/** Consumption is measured over this span: a window sized for round trips up to about 2 s. */
export const RATE_SPAN_MS = 1000;
/** The most credit the reference recipient asks for, chunks (about 63 MB); the relay caps lower. */
export const MAX_GRANT_CHUNKS = 1024;

export class WindowGrant {
  /** When each of the chunks consumed within RATE_SPAN_MS was consumed, oldest first. */
  #times: number[] = [];
  #head = 0;
  #sentSeq = 0;
  #limit = WINDOW_CHUNKS;

  /**
   * Chunks 0 .. seq−1 are consumed, the last at `now`. Returns the WINDOW to send, if one is
   * due: every WINDOW_CHUNKS / 2 chunks, whatever the credit. The relay may grant less than
   * asked (down to the base window), and the recipient does not learn what it granted: only
   * a WINDOW within every base window keeps a sender so held from waiting for good.
   */
  consumed(seq: number, now: number): { seq: number; limit: number } | undefined {
    this.#times.push(now);
    while (this.#head < this.#times.length && this.#times[this.#head]! <= now - RATE_SPAN_MS) this.#head++;
    if (this.#head > 1024) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    const credit = Math.max(WINDOW_CHUNKS, Math.min(MAX_GRANT_CHUNKS, 2 * (this.#times.length - this.#head)));
    if (seq - this.#sentSeq < WINDOW_CHUNKS / 2) return undefined;
    this.#sentSeq = seq;
    // The limit never moves back: the sender may already have sent up to the last one.
    this.#limit = Math.max(this.#limit, seq + credit);
    return { seq, limit: this.#limit };
  }
}
