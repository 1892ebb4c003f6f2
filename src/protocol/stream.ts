// STREAM (Hoang, Reyhanitabar, Rogaway, Vizár 2015) over AES-256-GCM, as age uses it:
// a message body is sealed in fixed-size chunks whose nonces bind their position and
// which one is last, so chunks cannot be reordered, dropped or cut off. SPEC.md "Message body".

import { ProtocolError } from "./errors.ts";
import { copyBytes } from "./bytes.ts";
import { aesGcmOpen, aesGcmSeal, aesGcmSealParts, AES_GCM_TAG_LENGTH, checkLength } from "./primitives.ts";

/** Plaintext bytes per full chunk: 60 KiB, so chunk + tag + frame header fit in one 65535-byte Noise message. */
export const STREAM_CHUNK = 61440;

const EMPTY = new Uint8Array(0);
const LAST_FLAG = 0x01;

/** Nonce = 11-byte big-endian chunk counter || last flag (0x01 on the final chunk). */
export function streamNonce(counter: number, last: boolean): Uint8Array {
  const nonce = new Uint8Array(12);
  // The counter stays below 2^53, so the top 4 of its 11 bytes are always zero; the rest is
  // two 32-bit halves (a BigInt and a DataView per chunk cost a few us each, on every chunk).
  const hi = Math.floor(counter / 0x1_0000_0000);
  const lo = counter >>> 0;
  nonce[3] = hi >>> 24;
  nonce[4] = hi >>> 16;
  nonce[5] = hi >>> 8;
  nonce[6] = hi;
  nonce[7] = lo >>> 24;
  nonce[8] = lo >>> 16;
  nonce[9] = lo >>> 8;
  nonce[10] = lo;
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
    this.#key = copyBytes(key);
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
    this.#key = copyBytes(key);
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

/**
 * Where a StreamWriter puts each sealed chunk: its ciphertext || tag as pieces to use one
 * after another (a single piece unless the writer was made with `parts`), and its last flag.
 */
export type StreamSink = (sealed: Uint8Array[], last: boolean) => void;

/**
 * age's stream.Writer: plaintext in pieces of any size, sealed in STREAM chunks. A full
 * chunk is sealed only once a further byte arrives, because only then is it known not to be
 * the last; close() seals the last chunk (a full one, a short one, or the empty one of an
 * empty plaintext). Each byte is copied once, into the chunk buffer.
 */
export class StreamWriter {
  readonly #sealer: StreamSealer;
  readonly #sink: StreamSink;
  readonly #parts: boolean;
  readonly #buf = new Uint8Array(STREAM_CHUNK);
  #fill = 0;
  #size = 0;
  #closed = false;

  /** parts: hand the sink aesGcmSealParts' pieces (for writing to a file) instead of one joined chunk. */
  constructor(key: Uint8Array, sink: StreamSink, opts: { parts?: boolean } = {}) {
    this.#sealer = new StreamSealer(key);
    this.#sink = sink;
    this.#parts = opts.parts ?? false;
  }

  /** Plaintext bytes written so far. */
  get size(): number {
    return this.#size;
  }

  write(data: Uint8Array): void {
    if (this.#closed) throw new ProtocolError("malformed", "STREAM writer is closed");
    let off = 0;
    while (off < data.length) {
      if (this.#fill === STREAM_CHUNK) this.#seal(false);
      const n = Math.min(STREAM_CHUNK - this.#fill, data.length - off);
      this.#buf.set(data.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
    }
    this.#size += data.length;
  }

  /** Seal what is buffered as the last chunk; nothing may be written after. */
  close(): void {
    if (this.#closed) throw new ProtocolError("malformed", "STREAM writer is closed");
    this.#closed = true;
    this.#seal(true);
  }

  #seal(last: boolean): void {
    const chunk = this.#buf.subarray(0, this.#fill);
    // The sink uses the sealed bytes before the buffer is filled again: sealing never
    // returns a view of the plaintext buffer.
    this.#sink(this.#parts ? this.#sealer.sealParts(chunk, last) : [this.#sealer.seal(chunk, last)], last);
    this.#fill = 0;
  }
}

/**
 * age's stream.Reader for a STREAM whose ciphertext size is known (a stored attachment):
 * reads each chunk with `read` into one reused buffer, the last being the one that ends at
 * `ciphertextSize`, and yields its plaintext (nothing for the empty chunk of an empty
 * plaintext). `read(buf)` fills buf and returns how many bytes it got: fewer means the
 * input ended early, which is `truncated`.
 */
export function* streamReader(key: Uint8Array, ciphertextSize: number, read: (buf: Uint8Array) => number): Generator<Uint8Array> {
  const opener = new StreamOpener(key);
  const buf = new Uint8Array(STREAM_CHUNK + AES_GCM_TAG_LENGTH);
  let left = ciphertextSize;
  do {
    const chunk = buf.subarray(0, Math.min(buf.length, left));
    if (read(chunk) !== chunk.length) throw new ProtocolError("truncated", "STREAM ended before its last chunk");
    left -= chunk.length;
    const pt = opener.open(chunk, left === 0);
    if (pt.length > 0) yield pt;
  } while (left > 0);
}
