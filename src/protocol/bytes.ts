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

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** Up to this many bytes, hex is made from a table (see toHex). */
const SHORT_HEX = 64;

/**
 * Lowercase hex, as ids and fingerprints are printed (SPEC.md §1.4). A short array (a
 * message id, the key of every transfer the relay routes: three per message) is done from a
 * table: wrapping it in a Buffer makes the engine materialise its ArrayBuffer, which cost
 * the relay about 7 % of its CPU per message (bench/README.md).
 */
export function toHex(b: Uint8Array): string {
  if (b.length > SHORT_HEX) return Buffer.from(b.buffer, b.byteOffset, b.length).toString("hex");
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i] as number];
  return s;
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
  const buf = b.buffer;
  if (!(buf instanceof ArrayBuffer) || buf.resizable || buf.detached) return false;
  if (b.byteLength < RELEASE_MIN || b.byteOffset !== 0 || buf.byteLength > b.byteLength + RELEASE_SLACK) return false;
  buf.transfer(0);
  return true;
}
