// Record framing on the TCP stream (SPEC.md §2): each record is a 2-byte big-endian
// length followed by that many bytes, 1..65535, which is exactly one Noise message.
// A zero length or a length over the limit is a protocol violation, never repaired.

import { ProtocolError } from "./errors.ts";

export const MAX_RECORD = 65535;
/** First record from a client: "SMSG" | version | Noise message 1. */
export const PREAMBLE_MAGIC = new Uint8Array([0x53, 0x4d, 0x53, 0x47]);
export const PROTOCOL_VERSION = 1;

export function encodeRecord(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + body.length);
  out.set(recordHeader(body), 0);
  out.set(body, 2);
  return out;
}

/** The 2-byte length that goes before body, for a writer that sends the two apart. */
export function recordHeader(body: Uint8Array): Uint8Array {
  if (body.length === 0 || body.length > MAX_RECORD) {
    throw new ProtocolError("too-large", `record body of ${body.length} bytes`);
  }
  return Uint8Array.of(body.length >>> 8, body.length & 0xff);
}

const EMPTY = new Uint8Array(0);

/**
 * Incremental decoder: feed it whatever TCP delivered, get back whole records.
 * It holds at most one partial record (< 64 KiB + 2), so a peer cannot make it buffer more.
 */
export class RecordDecoder {
  #buf: Uint8Array = new Uint8Array(0);

  push(data: Uint8Array): Uint8Array[] {
    const buf = this.#buf.length === 0 ? data : concat(this.#buf, data);
    const records: Uint8Array[] = [];
    let off = 0;
    while (buf.length - off >= 2) {
      const len = ((buf[off] as number) << 8) | (buf[off + 1] as number);
      if (len === 0) throw new ProtocolError("malformed", "zero-length record");
      if (buf.length - off - 2 < len) break;
      // Copy out: the caller may keep the record while the socket reuses its buffer.
      records.push(buf.slice(off + 2, off + 2 + len));
      off += 2 + len;
    }
    this.#buf = off === buf.length ? EMPTY : buf.slice(off);
    return records;
  }

  /** Bytes of an incomplete record still held. */
  get pending(): number {
    return this.#buf.length;
  }
}

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
