// Byte-level reader and writer for the message bodies of SPEC.md §4. Every read is
// bounds-checked; a short or over-long body is "malformed" before anything is acted on.

import { ProtocolError } from "./errors.ts";
import { checkUserId } from "./user-id.ts";
import { copyInto } from "./bytes.ts";

const te = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the string: stripping it would give two encodings
// of one message (with and without the BOM bytes).
const td = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A field at least this long is passed on as it is by Writer.finishParts. */
const LARGE_PART = 4096;
/**
 * Every one-byte field, made once: a message's type byte and flags were a fresh array each,
 * which the relay made about ten times per message routed (bench/README.md). Shared safely:
 * a part this short is only ever copied out of (finish, finishParts), never handed on.
 */
const BYTE = Array.from({ length: 256 }, (_, i) => Uint8Array.of(i));

export class Writer {
  #parts: Uint8Array[] = [];
  #len = 0;

  u8(v: number): this {
    return this.bytes(BYTE[range(v, 0xff)]!);
  }
  u16(v: number): this {
    range(v, 0xffff);
    return this.bytes(Uint8Array.of(v >>> 8, v & 0xff));
  }
  // Integers are written byte by byte: a DataView over a fresh small array makes the
  // engine materialise its ArrayBuffer, which costs more than the message's AES-GCM.
  u32(v: number): this {
    range(v, 0xffffffff);
    return this.bytes(Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff));
  }
  u64(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new ProtocolError("malformed", "u64 out of range");
    const hi = Math.floor(v / TWO_32);
    const lo = v >>> 0;
    return this.bytes(
      Uint8Array.of(hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff),
    );
  }
  bytes(b: Uint8Array): this {
    this.#parts.push(b);
    this.#len += b.length;
    return this;
  }
  /** Everything another writer holds, after what this one holds (its parts, not copies). */
  append(w: Writer): this {
    for (const p of w.#parts) this.#parts.push(p);
    this.#len += w.#len;
    return this;
  }
  get length(): number {
    return this.#len;
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
  /**
   * The same bytes as finish(), as pieces: runs of small fields joined, a large field (a
   * 60 KiB chunk) left where it is, so that a record's encryption reads it in place instead
   * of after one more copy (bench/README.md). With `into` (see Pieces), the runs are joined
   * there instead of into a new array each: the relay's batch of 8 messages is a 30 KiB run
   * per record.
   */
  finishParts(into?: Uint8Array): { parts: Uint8Array[]; length: number } {
    if (into) return this.addTo(new Pieces(into)).done();
    const parts: Uint8Array[] = [];
    let run: Uint8Array[] = [];
    let runLen = 0;
    const flush = () => {
      if (runLen === 0) return;
      const joined = new Uint8Array(runLen);
      let off = 0;
      for (const p of run) {
        joined.set(p, off);
        off += p.length;
      }
      parts.push(joined);
      run = [];
      runLen = 0;
    };
    for (const p of this.#parts) {
      if (p.length >= LARGE_PART) {
        flush();
        parts.push(p);
      } else {
        run.push(p);
        runLen += p.length;
      }
    }
    flush();
    return { parts, length: this.#len };
  }

  /** This writer's bytes, after what `pieces` holds. */
  addTo(pieces: Pieces): Pieces {
    for (const p of this.#parts) pieces.bytes(p);
    return pieces;
  }
}

/**
 * A record's plaintext as Writer.finishParts gives it, written field by field: small fields
 * copied one after another into `into`, a large one (LARGE_PART or more) kept where it lies.
 * `into` (at least as long as the small fields together, which a record's MAX_PLAINTEXT
 * bounds) is the caller's to reuse once the pieces are consumed: sealAll encrypts them at
 * once. A BATCH's type byte and item lengths go straight into it, not as a small array each.
 */
export class Pieces {
  readonly parts: Uint8Array[] = [];
  #into: Uint8Array;
  #at = 0; // where the next small field goes in #into
  #from = 0; // where the run not yet in parts began
  #large = 0; // bytes of large fields

  constructor(into: Uint8Array) {
    this.#into = into;
  }
  u8(v: number): this {
    this.#into[this.#at++] = range(v, 0xff);
    return this;
  }
  u16(v: number): this {
    range(v, 0xffff);
    this.#into[this.#at++] = v >>> 8;
    this.#into[this.#at++] = v & 0xff;
    return this;
  }
  bytes(b: Uint8Array): this {
    if (b.length >= LARGE_PART) {
      this.#cut();
      this.parts.push(b);
      this.#large += b.length;
    } else {
      copyInto(this.#into, b, this.#at);
      this.#at += b.length;
    }
    return this;
  }
  done(): { parts: Uint8Array[]; length: number } {
    this.#cut();
    return { parts: this.parts, length: this.#at + this.#large };
  }
  #cut(): void {
    if (this.#at === this.#from) return;
    this.parts.push(this.#into.subarray(this.#from, this.#at));
    this.#from = this.#at;
  }
}

export class Reader {
  #b: Uint8Array;
  #off = 0;

  constructor(b: Uint8Array, offset = 0) {
    this.#b = b;
    this.#off = offset;
  }
  /** Offset of the next n bytes, which must be there; integers read them in place. */
  #skip(n: number): number {
    const at = this.#off;
    if (at + n > this.#b.length) throw new ProtocolError("malformed", "body too short");
    this.#off = at + n;
    return at;
  }
  #take(n: number): Uint8Array {
    const at = this.#skip(n);
    return this.#b.subarray(at, at + n);
  }
  u8(): number {
    return this.#b[this.#skip(1)] as number;
  }
  u16(): number {
    const at = this.#skip(2);
    return ((this.#b[at] as number) << 8) | (this.#b[at + 1] as number);
  }
  u32(): number {
    return this.#u32at(this.#skip(4));
  }
  u64(): number {
    const at = this.#skip(8);
    const hi = this.#u32at(at);
    // hi < 2^21 is exactly v <= 2^53-1.
    if (hi >= 0x200000) throw new ProtocolError("malformed", "u64 over 2^53-1");
    return hi * TWO_32 + this.#u32at(at + 4);
  }
  #u32at(at: number): number {
    const b = this.#b;
    return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
  }
  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new ProtocolError("malformed", "boolean must be 0 or 1");
    return v === 1;
  }
  /** A copy: fields outlive the record they came in. */
  fixed(n: number): Uint8Array {
    const at = this.#skip(n);
    return this.#b.slice(at, at + n);
  }
  /** Past n bytes, which must be there: their offset, for a caller that reads them in place later. */
  skip(n: number): number {
    return this.#skip(n);
  }
  /** A view, not a copy: for a caller that keeps nothing of the body past its use. */
  view(n: number): Uint8Array {
    return this.#take(n);
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

const TWO_32 = 2 ** 32;

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
