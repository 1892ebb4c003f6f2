// Record framing on the TCP stream (SPEC.md §2): each record is a 2-byte big-endian
// length followed by that many bytes, 1..65535, which is exactly one Noise message.
// A zero length or a length over the limit is a protocol violation, never repaired.

import { ProtocolError } from "./errors.ts";

export const MAX_RECORD = 65535;
/** First record from a client: "SMSG" | version | Noise message 1. */
export const PREAMBLE_MAGIC = new Uint8Array([0x53, 0x4d, 0x53, 0x47]);
export const PROTOCOL_VERSION = 2;

export function encodeRecord(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + body.length);
  out.set(recordHeader(body.length), 0);
  out.set(body, 2);
  return out;
}

/** The 2-byte length that goes before a body of this length, for a writer that sends the two apart. */
export function recordHeader(length: number): Uint8Array {
  if (length === 0 || length > MAX_RECORD) {
    throw new ProtocolError("too-large", `record body of ${length} bytes`);
  }
  return Uint8Array.of(length >>> 8, length & 0xff);
}

/**
 * Incremental decoder: feed it whatever TCP delivered, get back whole records.
 * It holds at most one partial record (< 64 KiB + 2), so a peer cannot make it buffer more.
 * A record that lies whole in one push is returned as a view of the pushed bytes, not a
 * copy: the caller must leave those bytes alone while it uses the records (FramedSocket
 * releases a read once its records are handled). A record that spans
 * pushes is assembled in a buffer of its own, of its exact size, allocated once its length
 * is known (joining each read onto the rest of the last one copied a 60 KiB chunk several
 * times over); nothing of a push is kept once push returns.
 */
export class RecordDecoder {
  #headerHi = 0; // the length's first byte, when the length came split from its record
  #headerFill = 0; // bytes of the length seen, when it came split from its record
  #record: Uint8Array | undefined; // the body being assembled
  #fill = 0;

  push(data: Uint8Array): Uint8Array[] {
    const records: Uint8Array[] = [];
    let off = 0;
    while (off < data.length) {
      if (this.#record === undefined) {
        if (this.#headerFill === 0 && data.length - off >= 2) {
          const len = ((data[off] as number) << 8) | (data[off + 1] as number);
          if (len === 0) throw new ProtocolError("malformed", "zero-length record");
          if (data.length - off - 2 >= len) {
            // subarray, not slice: a Buffer's slice is a view (Bun's reads are Buffers) and a
            // Uint8Array's a copy; a view whatever the caller gives.
            records.push(data.subarray(off + 2, off + 2 + len));
            off += 2 + len;
            continue;
          }
          this.#begin(len);
          off += 2;
        } else {
          const byte = data[off++] as number;
          if (this.#headerFill++ === 0) {
            this.#headerHi = byte;
            continue;
          }
          const len = (this.#headerHi << 8) | byte;
          if (len === 0) throw new ProtocolError("malformed", "zero-length record");
          this.#begin(len);
          continue;
        }
      }
      const rec = this.#record!;
      const n = Math.min(rec.length - this.#fill, data.length - off);
      rec.set(data.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      if (this.#fill === rec.length) {
        records.push(rec);
        this.#record = undefined;
        this.#headerFill = 0;
      }
    }
    return records;
  }

  #begin(len: number): void {
    this.#record = new Uint8Array(len);
    this.#fill = 0;
    this.#headerFill = 2;
  }

  /** Bytes of an incomplete record still held. */
  get pending(): number {
    return this.#record ? 2 + this.#fill : this.#headerFill;
  }
}
