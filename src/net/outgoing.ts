// What one side of a connection posts during one turn of the event loop, sealed together at
// its end (SPEC.md §4.4): the scheduling half of batching, kept out of src/protocol/, which
// has no clock and no event loop.

import type { Writer } from "../protocol/codec.ts";
import type { Message } from "../protocol/messages.ts";
import { ITEM_HEAD, encode, type Transport } from "../protocol/transport.ts";

/**
 * The messages one side posts during one turn of the event loop leave together at its end,
 * in as few records as fit (sealAll), and so in as few AES-GCM operations and socket writes.
 * post encodes at once, so a message that can never be sent throws to its sender; flush
 * seals what is waiting now (before a close, or before anything written around the queue).
 */
export class Outgoing {
  #transport: Transport;
  #write: (record: Uint8Array[]) => void;
  #waiting: Writer[] = [];
  #waitingBytes = 0;

  constructor(transport: Transport, write: (record: Uint8Array[]) => void) {
    this.#transport = transport;
    this.#write = write;
  }

  post(m: Message): void {
    const w = encode(m);
    this.#waiting.push(w);
    // At what it takes in a BATCH, so that what is counted when posted is what the record
    // brings (short only of the tag, the record's length and the BATCH byte): for small
    // answers the item heads are over 1 % more, and the relay checks its budgets on posting.
    this.#waitingBytes += ITEM_HEAD + w.length;
    if (this.#waiting.length === 1) queueMicrotask(() => this.flush());
  }

  /** Bytes posted and not yet sealed, as BATCH items. */
  get waitingBytes(): number {
    return this.#waitingBytes;
  }

  /** Forget what waits (its connection is being closed). */
  drop(): void {
    this.#waiting = [];
    this.#waitingBytes = 0;
  }

  flush(): void {
    if (this.#waiting.length === 0) return;
    const items = this.#waiting;
    this.#waiting = [];
    this.#waitingBytes = 0;
    for (const record of this.#transport.sealAll(items)) this.#write(record);
  }
}
