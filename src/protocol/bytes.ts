// Byte-string helpers every layer uses (SPEC.md §1.1 "Notation and byte order"): joining,
// comparing and printing. One copy here instead of one per module.

/** The parts one after another, in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Whether a and b hold the same bytes. Not constant-time: for ids, keys and pins that are
 * public; secrets (receipts, MACs, proofs) go through
 * constantTimeEqual (primitives.ts).
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  // Natively: the relay compares each SEND's 1,320-byte sender key with the published one,
  // which a loop here took 1.1 us for and Buffer.compare 0.3 (it takes a Uint8Array as it
  // is, with no Buffer made around it; bench/README.md).
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Up to this many bytes, bytesEqualAt compares in a loop, without a view. */
const SHORT_COMPARE = 64;

/**
 * Whether b holds a's bytes at offset `at` (bytesEqual(a, b.subarray(at, at + a.length))),
 * for the relay, which checks a SEND's keys where they lie in the record (bench/README.md):
 * a short field in a loop, without the view; a long one natively, through the view, which
 * here cost less than Buffer's compare with bounds (about 70 ns against 85-90 for 1,320 bytes).
 */
export function bytesEqualAt(a: Uint8Array, b: Uint8Array, at: number): boolean {
  const n = a.length;
  if (at < 0 || at + n > b.length) return false;
  if (n > SHORT_COMPARE) return Buffer.compare(a, b.subarray(at, at + n)) === 0;
  for (let i = 0; i < n; i++) if (a[i] !== b[at + i]) return false;
  return true;
}

/**
 * Lowercase hex, as ids and fingerprints are printed (SPEC.md §1.4). Uint8Array's own toHex
 * (ES2025): the relay keys every transfer by its id's hex, three times per message routed,
 * and a string built from a table of byte pairs took about 0.5 us of it each time, the
 * native call under 0.1 (bench/README.md); a Buffer around the array made the engine
 * materialise its ArrayBuffer, which was dearer still.
 */
export function toHex(b: Uint8Array): string {
  return b.toHex();
}

/** Copies of more than this many bytes go in pieces of it (see copyInto). */
const COPY_PIECE = 2048;
const bufferCopy = Buffer.prototype.copy;

/**
 * src copied into dst at `at`, as dst.set(src, at) does. A long copy goes in pieces of
 * COPY_PIECE: one copy of a record's 30 KiB ciphertext to just after its 2-byte length took
 * 11-15 us on this machine's CPU instead of 0.6-1.1 (the C library's `rep movsb` is that slow
 * when the destination lies a few bytes after the source's place in a page), over 1 us per
 * message the relay forwards; in pieces below the library's threshold for it, 1.3-2.5 us
 * wherever the two lie (bench/copy-cost.ts, bench/README.md). Buffer's copy takes
 * the piece's bounds, where `set` would need a view per piece.
 */
export function copyInto(dst: Uint8Array, src: Uint8Array, at: number): void {
  if (src.length <= COPY_PIECE) {
    dst.set(src, at);
    return;
  }
  for (let i = 0; i < src.length; i += COPY_PIECE) bufferCopy.call(src, dst, at + i, i, Math.min(i + COPY_PIECE, src.length));
}

/**
 * A private copy of b, as a plain Uint8Array over its own ArrayBuffer. Not Uint8Array.from:
 * given a Buffer (every record the socket delivers is one, and so are its subarrays), the
 * engine copies that through the iterator protocol one byte at a time, about 45 us for an
 * ML-KEM-768 key; the constructor copies it as a block in about 1 us (bench/README.md).
 */
export function copyBytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

/** Below this a buffer may be a slice of a shared pool, and is left to the collector. */
const RELEASE_MIN = 16 * 1024;
/** Native code may allocate a few bytes more than the view it returns (OpenSSL's update: one). */
const RELEASE_SLACK = 64;

/**
 * Give b's memory back to the allocator now instead of at the engine's next collection,
 * for a large buffer its caller alone holds and is done with (a 60 KiB chunk that was read,
 * opened or sealed and written on). A daemon moving an attachment makes four such buffers
 * per chunk, and 50 MB and more of them piled up between the engine's collections
 * (bench/README.md). Does nothing to a small
 * buffer, or to a view of part of a larger one, whose other bytes someone else may use.
 * Every view of the buffer reads as empty afterwards (it is detached): a caller must not
 * release what anything still refers to.
 */
export function releaseBytes(b: Uint8Array): boolean {
  if (!releasable(b)) return false;
  (b.buffer as ArrayBuffer).transfer(0);
  return true;
}

/** Whether releaseBytes would give b's memory back (and detach every view of it). */
export function releasable(b: Uint8Array): boolean {
  const buf = b.buffer;
  if (!(buf instanceof ArrayBuffer) || buf.resizable || buf.detached) return false;
  return b.byteLength >= RELEASE_MIN && b.byteOffset === 0 && buf.byteLength <= b.byteLength + RELEASE_SLACK;
}
