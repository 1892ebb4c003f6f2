// Byte-level reader and writer for the message bodies of SPEC.md §4. Every read is
// bounds-checked; a short or over-long body is "malformed" before anything is acted on.

import { ProtocolError } from "./errors.ts";
import { checkUserId } from "./user-id.ts";

const te = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the string: stripping it would give two encodings
// of one message (with and without the BOM bytes).
const td = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class Writer {
  #parts: Uint8Array[] = [];
  #len = 0;

  u8(v: number): this {
    return this.bytes(Uint8Array.of(range(v, 0xff)));
  }
  u16(v: number): this {
    range(v, 0xffff);
    return this.bytes(Uint8Array.of(v >>> 8, v & 0xff));
  }
  u32(v: number): this {
    range(v, 0xffffffff);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    return this.bytes(b);
  }
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new ProtocolError("malformed", "u64 out of range");
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v));
    return this.bytes(b);
  }
  bytes(b: Uint8Array): this {
    this.#parts.push(b);
    this.#len += b.length;
    return this;
  }
  /** Fixed-length field: the length is part of the spec, not the wire. */
  fixed(b: Uint8Array, n: number): this {
    if (b.length !== n) throw new ProtocolError("malformed", `field must be ${n} bytes`);
    return this.bytes(b);
  }
  /** u8 length + UTF-8, for user ids and short strings. */
  str8(s: string): this {
    const b = te.encode(s);
    if (b.length > 255) throw new ProtocolError("too-large", "short string over 255 bytes");
    return this.u8(b.length).bytes(b);
  }
  /** u16 length + UTF-8, for human-readable reasons. */
  str16(s: string): this {
    const b = te.encode(s);
    if (b.length > 0xffff) throw new ProtocolError("too-large", "string over 65535 bytes");
    return this.u16(b.length).bytes(b);
  }
  user(u: string): this {
    return this.str8(checkUserId(u));
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.#len);
    let off = 0;
    for (const p of this.#parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

export class Reader {
  #b: Uint8Array;
  #off = 0;

  constructor(b: Uint8Array, offset = 0) {
    this.#b = b;
    this.#off = offset;
  }
  #take(n: number): Uint8Array {
    if (this.#off + n > this.#b.length) throw new ProtocolError("malformed", "body too short");
    const out = this.#b.subarray(this.#off, this.#off + n);
    this.#off += n;
    return out;
  }
  u8(): number {
    return this.#take(1)[0] as number;
  }
  u16(): number {
    const b = this.#take(2);
    return ((b[0] as number) << 8) | (b[1] as number);
  }
  u32(): number {
    const b = this.#take(4);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }
  u64(): number {
    const b = this.#take(8);
    const v = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError("malformed", "u64 over 2^53-1");
    return Number(v);
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new ProtocolError("malformed", "boolean must be 0 or 1");
    return v === 1;
  }
  fixed(n: number): Uint8Array {
    return this.#take(n).slice();
  }
  str8(): string {
    return decodeUtf8(this.#take(this.u8()));
  }
  str16(): string {
    return decodeUtf8(this.#take(this.u16()));
  }
  user(): string {
    return checkUserId(this.str8());
  }
  /** The rest of the body, without copying. */
  rest(): Uint8Array {
    const out = this.#b.subarray(this.#off);
    this.#off = this.#b.length;
    return out;
  }
  /** Trailing bytes are as malformed as missing ones: one encoding per message. */
  end(): void {
    if (this.#off !== this.#b.length) throw new ProtocolError("malformed", "trailing bytes");
  }
}

/** Writing never wraps: a value that does not fit its field is a bug to report, not to encode. */
function range(v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new ProtocolError("malformed", `integer out of range 0..${max}`);
  return v;
}

function decodeUtf8(b: Uint8Array): string {
  try {
    return td.decode(b);
  } catch {
    throw new ProtocolError("malformed", "invalid UTF-8");
  }
}

export const utf8 = (s: string): Uint8Array => te.encode(s);
