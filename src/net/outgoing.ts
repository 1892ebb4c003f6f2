// What one side of a connection posts during one turn of the event loop, sealed together at
// its end (SPEC.md §4.4): the scheduling half of batching, kept out of src/protocol/, which
// has no clock and no event loop.

import type { Writer } from "../protocol/codec.ts";
import type { Message } from "../protocol/messages.ts";
import { ITEM_HEAD, checkEncoded, encode, type Transport } from "../protocol/transport.ts";

/**
 * The messages one side posts during one turn of the event loop leave together at its end,
 * in as few records as fit (sealAll), and so in as few AES-GCM operations and socket writes.
 * post encodes at once, so a message that can never be sent throws to its sender; flush
 * seals what is waiting now (before a close, or before anything written around the queue).
 */
// The empty queues every idle connection shares (never pushed to: a connection takes its own
// array when it has something): a relay holds thousands of idle sessions.
const NO_ITEMS: Writer[] = [];
const NO_RECORDS: Uint8Array[][] = [];

export class Outgoing {
  #transport: Transport;
  #write: (record: Uint8Array[]) => void;
  #waiting: Writer[] = NO_ITEMS;
  #waitingBytes = 0;
  // Records sealed by a flush and not yet handed to write, in nonce order. A writer that
  // measures what it owes after each record (the relay, SPEC.md §6.5) must still find the
  // rest counted here: counted nowhere, they let it take itself for drained and read more.
  #sealed: Uint8Array[][] = NO_RECORDS;
  #sealedBytes = 0;

  constructor(transport: Transport, write: (record: Uint8Array[]) => void) {
    this.#transport = transport;
    this.#write = write;
  }

  /** `w`, when given, is m already encoded (as it was received): sent, not written again. */
  post(m: Message, w?: Writer): void {
    this.postEncoded(w ?? encode(m));
  }

  /** A message encoded by the caller (writeChunk), checked as `encode` checks. */
  postEncoded(w: Writer): void {
    checkEncoded(w);
    if (this.#waiting === NO_ITEMS) this.#waiting = [];
    this.#waiting.push(w);
    // At what it takes in a BATCH, so that what is counted when posted is what the record
    // brings (short only of the tag, the record's length and the BATCH byte): for small
    // answers the item heads are over 1 % more, and the relay checks its budgets on posting.
    this.#waitingBytes += ITEM_HEAD + w.length;
    if (this.#waiting.length === 1) queueMicrotask(() => this.flush());
  }

  /** Bytes posted and not yet handed to write: as BATCH items, or sealed in a flush still writing. */
  get waitingBytes(): number {
    return this.#waitingBytes + this.#sealedBytes;
  }

  /** Forget what waits (its connection is being closed). */
  drop(): void {
    this.#waiting = NO_ITEMS;
    this.#waitingBytes = 0;
    this.#sealed = NO_RECORDS;
    this.#sealedBytes = 0;
  }

  flush(): void {
    if (this.#waiting.length > 0) {
      const items = this.#waiting;
      this.#waiting = NO_ITEMS;
      this.#waitingBytes = 0;
      if (this.#sealed === NO_RECORDS) this.#sealed = [];
      for (const record of this.#transport.sealAll(items)) {
        this.#sealed.push(record);
        this.#sealedBytes += byteLength(record);
      }
    }
    // One queue for the records of every flush: one called from within write (a close) goes
    // on with the records sealed before its own, so they leave in the order of their nonces.
    while (this.#sealed.length > 0) {
      const record = this.#sealed.shift()!;
      this.#sealedBytes -= byteLength(record);
      this.#write(record);
    }
    if (this.#sealed.length === 0) this.#sealed = NO_RECORDS;
  }
}

function byteLength(parts: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}
