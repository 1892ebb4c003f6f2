// Transport records after the handshake (SPEC.md §2.3): each record is one Noise transport
// message whose plaintext is one encoded Message. The two CipherStates come from Split().

import type { CipherState } from "./noise.ts";
import { decodeMessage, encodeMessage, encodeMessageParts, type Message } from "./messages.ts";
import { ProtocolError } from "./errors.ts";
import { NOISE_MAX_MESSAGE } from "./noise.ts";

const EMPTY = new Uint8Array(0);
/** Largest plaintext a transport record can carry: 65535 minus the 16-byte tag. */
export const MAX_PLAINTEXT = NOISE_MAX_MESSAGE - 16;

export class Transport {
  #tx: CipherState;
  #rx: CipherState;

  constructor(tx: CipherState, rx: CipherState) {
    this.#tx = tx;
    this.#rx = rx;
  }

  seal(m: Message): Uint8Array {
    const pt = encodeMessage(m);
    if (pt.length > MAX_PLAINTEXT) throw new ProtocolError("too-large", `message of ${pt.length} bytes`);
    return this.#tx.encryptWithAd(EMPTY, pt);
  }

  /**
   * seal's record as pieces to be written one after another: a chunk's data is encrypted
   * where it lies and the result is not joined here (the socket's writer joins once).
   */
  sealParts(m: Message): Uint8Array[] {
    const { parts, length } = encodeMessageParts(m);
    if (length > MAX_PLAINTEXT) throw new ProtocolError("too-large", `message of ${length} bytes`);
    return this.#tx.encryptPartsWithAd(EMPTY, parts, length);
  }

  open(record: Uint8Array): Message {
    return decodeMessage(this.#rx.decryptWithAd(EMPTY, record));
  }
}
