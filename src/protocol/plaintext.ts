// The message plaintext (SPEC.md §5.3): u32 L || header[L] || each attachment's bytes, read
// incrementally as STREAM chunks open one by one, with every check §5.3 asks of a receiver.
// Pure: bytes in, the header and attachment bytes out to a sink; no I/O, no clock.

import { MAX_HEADER_BYTES, parseHeader, type EnvelopeHeader } from "./envelope.ts";
import { ProtocolError } from "./errors.ts";

/** What a parser hands on, in order: the header, then each attachment's bytes and its end. */
export interface PlaintextSink {
  /** The header, checked; attachment i follows with header.attachments[i].size bytes. */
  header(h: EnvelopeHeader): void;
  /** A piece of attachment i: a view of the bytes given to push, valid only during this call. */
  attachment(i: number, bytes: Uint8Array): void;
  /** Attachment i is complete (at once for an empty one). */
  attachmentEnd(i: number): void;
}

/** What the delivery said: the header must agree (SPEC.md §5.3, `id`, `from`, `to`). */
export interface Delivery {
  /** The message id, 32 lowercase hex digits. */
  id: string;
  from: string;
  /** The receiving user: the header's `to` must contain it. */
  recipient: string;
}

export class PlaintextParser {
  readonly #total: number;
  readonly #delivery: Delivery;
  readonly #sink: PlaintextSink;
  #seen = 0;
  #len = new Uint8Array(4);
  #headerLen = -1; // until the 4 length bytes are in
  #headerBuf: Uint8Array | undefined;
  #fill = 0; // bytes of the length, then of the header, gathered so far
  #header: EnvelopeHeader | undefined;
  #att = 0; // the attachment being read
  #attLeft = 0;

  /** total: the plaintext size the announced ciphertext size implies (streamPlaintextSize). */
  constructor(total: number, delivery: Delivery, sink: PlaintextSink) {
    if (!Number.isSafeInteger(total) || total < 4) throw new ProtocolError("malformed", "announced size");
    this.#total = total;
    this.#delivery = delivery;
    this.#sink = sink;
  }

  /** Plaintext bytes read so far. */
  get seen(): number {
    return this.#seen;
  }

  /** The next bytes of the plaintext, cut anywhere. */
  push(pt: Uint8Array): void {
    if (this.#seen + pt.length > this.#total) throw new ProtocolError("malformed", "more data than announced");
    this.#seen += pt.length;
    let off = 0;
    while (off < pt.length) {
      if (this.#headerLen < 0) off += this.#readLength(pt, off);
      else if (!this.#header) off += this.#readHeader(pt, off);
      else {
        const n = Math.min(this.#attLeft, pt.length - off);
        this.#sink.attachment(this.#att, pt.subarray(off, off + n));
        this.#attLeft -= n;
        off += n;
        this.#nextAttachment();
      }
    }
  }

  /** The plaintext has ended: it must hold the header and every attachment, complete. */
  end(): void {
    if (this.#seen !== this.#total || !this.#header || this.#att !== this.#header.attachments.length) {
      throw new ProtocolError("truncated", "message ended early");
    }
  }

  #readLength(pt: Uint8Array, off: number): number {
    const n = Math.min(4 - this.#fill, pt.length - off);
    this.#len.set(pt.subarray(off, off + n), this.#fill);
    this.#fill += n;
    if (this.#fill < 4) return n;
    const len = new DataView(this.#len.buffer).getUint32(0);
    if (len > MAX_HEADER_BYTES || 4 + len > this.#total) throw new ProtocolError("too-large", "header length");
    if (len === 0) throw new ProtocolError("malformed", "empty header");
    this.#headerLen = len;
    this.#fill = 0;
    return n;
  }

  #readHeader(pt: Uint8Array, off: number): number {
    const n = Math.min(this.#headerLen - this.#fill, pt.length - off);
    if (this.#fill === 0 && n === this.#headerLen) {
      this.#headerDone(pt.subarray(off, off + n)); // all in this piece: no copy
      return n;
    }
    this.#headerBuf ??= new Uint8Array(this.#headerLen);
    this.#headerBuf.set(pt.subarray(off, off + n), this.#fill);
    this.#fill += n;
    if (this.#fill === this.#headerLen) {
      const json = this.#headerBuf;
      this.#headerBuf = undefined;
      this.#headerDone(json);
    }
    return n;
  }

  #headerDone(json: Uint8Array): void {
    const h = parseHeader(json);
    const d = this.#delivery;
    if (h.id !== d.id || h.from !== d.from || !h.to.includes(d.recipient)) {
      throw new ProtocolError("malformed", "header does not match the delivery");
    }
    const sizes = h.attachments.reduce((n, a) => n + a.size, 0);
    if (4 + this.#headerLen + sizes !== this.#total) throw new ProtocolError("malformed", "sizes do not add up");
    this.#header = h;
    this.#sink.header(h);
    this.#att = -1;
    this.#attLeft = 0;
    this.#nextAttachment();
  }

  /** End attachments that are complete (empty ones included) and move to the next. */
  #nextAttachment(): void {
    const atts = this.#header!.attachments;
    while (this.#attLeft === 0 && this.#att < atts.length) {
      if (this.#att >= 0) this.#sink.attachmentEnd(this.#att);
      this.#att++;
      if (this.#att < atts.length) this.#attLeft = atts[this.#att]!.size;
    }
  }
}
