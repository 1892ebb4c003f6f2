// STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over AES-256-GCM, as age uses it:
// a message body is sealed in fixed-size chunks whose nonces bind their position and
// which one is last, so chunks cannot be reordered, dropped or cut off. SPEC.md "Message body".

import { ProtocolError } from "./errors.ts";
import { aesGcmOpen, aesGcmSeal, aesGcmSealParts, AES_GCM_TAG_LENGTH, checkLength } from "./primitives.ts";

/** Plaintext bytes per full chunk: 60 KiB, so chunk + tag + frame header fit in one 65535-byte Noise message. */
export const STREAM_CHUNK = 61440;

const EMPTY = new Uint8Array(0);
const LAST_FLAG = 0x01;

/** Nonce = 11-byte big-endian chunk counter || last flag (0x01 on the final chunk). */
function streamNonce(counter: number, last: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  // The counter stays below 2^53, so the top 4 of its 11 bytes are always zero.
  new DataView(nonce.buffer).setBigUint64(3, BigInt(counter), false);
  nonce[11] = last ? LAST_FLAG : 0x00;
  return nonce;
}

function checkCounter(counter: number): void {
  if (counter >= Number.MAX_SAFE_INTEGER) throw new ProtocolError("nonce-exhausted", "STREAM chunk counter exhausted");
}

export function streamCiphertextSize(plaintextSize: number): number {
  if (!Number.isSafeInteger(plaintextSize) || plaintextSize < 0) {
    throw new ProtocolError("malformed", "plaintext size must be a non-negative integer");
  }
  // An empty body is still one (empty, last) chunk.
  const chunks = plaintextSize === 0 ? 1 : Math.ceil(plaintextSize / STREAM_CHUNK);
  return plaintextSize + chunks * AES_GCM_TAG_LENGTH;
}

export class StreamSealer {
  readonly #key: Uint8Array;
  #counter = 0;
  #finished = false;

  constructor(key: Uint8Array) {
    checkLength(key, 32, "STREAM key");
    this.#key = Uint8Array.from(key);
  }

  seal(chunk: Uint8Array, last: boolean): Uint8Array {
    const ciphertext = aesGcmSeal(this.#key, this.#next(chunk, last), EMPTY, chunk);
    this.#finished = last;
    return ciphertext;
  }

  /** seal's bytes as pieces to write one after another (aesGcmSealParts): no joining copy. */
  sealParts(chunk: Uint8Array, last: boolean): Uint8Array[] {
    const pieces = aesGcmSealParts(this.#key, this.#next(chunk, last), EMPTY, [chunk]);
    this.#finished = last;
    return pieces;
  }

  /** Check the chunk against the rules below and take the next nonce. */
  #next(chunk: Uint8Array, last: boolean): Uint8Array {
    if (this.#finished) throw new ProtocolError("malformed", "STREAM already sealed its last chunk");
    // Only full chunks may come before the last one, and only an empty body has an
    // empty chunk: this keeps every plaintext to exactly one chunking.
    if (!last && chunk.length !== STREAM_CHUNK) throw new ProtocolError("malformed", "STREAM chunk is not full size");
    if (last && chunk.length > STREAM_CHUNK) throw new ProtocolError("malformed", "STREAM chunk over full size");
    if (last && chunk.length === 0 && this.#counter > 0) {
      throw new ProtocolError("malformed", "empty last STREAM chunk after other chunks");
    }
    checkCounter(this.#counter);
    const nonce = streamNonce(this.#counter, last);
    this.#counter += 1;
    return nonce;
  }
}

export class StreamOpener {
  readonly #key: Uint8Array;
  #counter = 0;
  #done = false;

  constructor(key: Uint8Array) {
    checkLength(key, 32, "STREAM key");
    this.#key = Uint8Array.from(key);
  }

  open(ciphertext: Uint8Array, last: boolean): Uint8Array {
    if (this.#done) throw new ProtocolError("malformed", "STREAM chunk after the last one");
    const full = STREAM_CHUNK + AES_GCM_TAG_LENGTH;
    if (!last && ciphertext.length !== full) throw new ProtocolError("malformed", "STREAM chunk is not full size");
    if (last && (ciphertext.length < AES_GCM_TAG_LENGTH || ciphertext.length > full)) {
      throw new ProtocolError("malformed", "STREAM last chunk size out of range");
    }
    if (last && ciphertext.length === AES_GCM_TAG_LENGTH && this.#counter > 0) {
      throw new ProtocolError("malformed", "empty last STREAM chunk after other chunks");
    }
    checkCounter(this.#counter);
    const plaintext = aesGcmOpen(this.#key, streamNonce(this.#counter, last), EMPTY, ciphertext);
    this.#counter += 1;
    this.#done = last;
    return plaintext;
  }

  /** True once the last chunk has opened; until then the body is truncated. */
  done(): boolean {
    return this.#done;
  }

  /** Throws "truncated" unless the last chunk has opened; call when the input ends. */
  finish(): void {
    if (!this.#done) throw new ProtocolError("truncated", "STREAM ended before its last chunk");
  }
}
