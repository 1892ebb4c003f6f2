// A transfer in flight through the relay (SPEC.md §6): its two ends, its per-session limits
// and its key. The ends are Endpoints, not connections: the relay routes a transfer's
// records by (user, id) through calls on an end, so an end can stand for a connection on
// another relay as well as one of its own sessions (hub.ts).

import type { ErrorCode } from "../protocol/messages.ts";
import type { Endpoint } from "./endpoint.ts";

/** What a transfer needs of each of its two ends, besides a route and a queue (Endpoint). */
export interface TransferEnd extends Endpoint {
  readonly address: string; // for logs
  readonly authed: boolean;
  /** Transfers this end sends, by hex id. */
  readonly outgoing: Map<string, Transfer>;
  /** Transfers coming in to this end, by hex id. */
  readonly incoming: Map<string, Transfer>;
  /** Whether the relay can hold this end back by not reading it (a session of its own, not a node). */
  readonly pausable: boolean;
  /** Tell the peer why (ERROR code) and close. */
  fail(code: ErrorCode, reason: string): void;
  /**
   * sender has just posted to this end: if this end's unread output is over its share
   * (SPEC.md §6.5), keep sender waiting until it drains and say so.
   */
  holdBack(sender: TransferEnd): boolean;
  /** end, which this one was waiting on, drained or went away: carry on. */
  drained(end: TransferEnd): void;
  /** sender, waiting on this end, went away: forget it. */
  gone(sender: TransferEnd): void;
}

export interface Transfer {
  id: Uint8Array;
  key: string; // hex id
  from: TransferEnd;
  to: TransferEnd;
  size: number;
  received: number; // ciphertext bytes seen so far
  nextSeq: number;
  window: number; // chunks the recipient has consumed
  limit: number; // the sender may send chunks < limit: the last WINDOW limit forwarded to it (SPEC.md §6.3)
  extra: number; // chunks of limit beyond window + WINDOW_CHUNKS, counted in the relay's WindowBudget
  done: boolean; // last chunk forwarded
  last: number; // when anything moved: a transfer idle past TRANSFER_IDLE_MS is ended
}

/**
 * A transfer in which nothing moved for this long is ended for both sides: otherwise two
 * connections could hold a recipient's incoming slots (MAX_INCOMING_PER_SESSION) forever.
 */
export const TRANSFER_IDLE_MS = 120_000;
export const MAX_TRANSFERS_PER_SESSION = 8;
/** Transfers one recipient may have coming in at once, from everyone together. */
export const MAX_INCOMING_PER_SESSION = 16;

