// The receiving side (SPEC.md §5, §6, §8.2): check the sender's signed session key against
// the pinned identity, open the HPKE envelope, decrypt STREAM chunks as they come, re-encrypt
// attachments under fresh store keys, and ACK only after the message is committed to disk.

import {
  MAX_HEADER_BYTES,
  openEnvelopeKey,
  parseHeader,
  receiptFor,
  streamPlaintextSize,
  type EnvelopeHeader,
} from "../protocol/envelope.ts";
import { verifySessionKey } from "../protocol/keys.ts";
import { RECEIPT_LEN, WINDOW_CHUNKS, type AckStatus, type Message, type MessageOf, idHex } from "../protocol/messages.ts";
import { StreamOpener } from "../protocol/stream.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Link } from "./relay-client.ts";
import type { AttachmentWriter } from "./attachment-writer.ts";
import { DISK_FULL, isDiskFull, type Store } from "./store.ts";
import type { EventBus } from "./events.ts";
import { bytesEqual } from "../protocol/bytes.ts";

interface Incoming {
  id: Uint8Array;
  receiptKey: Uint8Array;
  hex: string;
  from: string;
  opener: StreamOpener;
  total: number; // plaintext bytes expected
  seen: number; // plaintext bytes so far
  chunks: number;
  lenBuf: Uint8Array;
  headerLen: number; // -1 until the 4 length bytes are in
  headerBuf: Uint8Array | undefined;
  headerFill: number;
  header: EnvelopeHeader | undefined;
  att: number; // attachment being written
  attLeft: number;
  writers: AttachmentWriter[];
}

export class Inbound {
  #store: Store;
  #user: string;
  #identity: Uint8Array; // our own identity key: never trusted on first use, known
  #events: EventBus;
  #now: () => number;
  #log: (line: string) => void;
  #incoming = new Map<string, Incoming>();

  constructor(deps: { store: Store; user: string; identity: Uint8Array; events: EventBus; now: () => number; log: (line: string) => void }) {
    this.#store = deps.store;
    this.#user = deps.user;
    this.#identity = deps.identity;
    this.#events = deps.events;
    this.#now = deps.now;
    this.#log = deps.log;
  }

  down(): void {
    for (const inc of this.#incoming.values()) this.#discard(inc);
    this.#incoming.clear();
  }

  handle(link: Link, m: Message): boolean {
    switch (m.t) {
      case "deliver":
        this.#begin(link, m);
        return true;
      case "chunk": {
        const inc = this.#incoming.get(idHex(m.id));
        if (!inc) return true; // a transfer we already refused or finished
        try {
          this.#chunk(link, inc, m);
        } catch (e) {
          this.#reject(link, inc, e);
        }
        return true;
      }
      case "abort": {
        const inc = this.#incoming.get(idHex(m.id));
        if (inc) {
          this.#incoming.delete(inc.hex);
          this.#discard(inc);
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** Refusals carry no receipt: only "stored" and "duplicate" prove anything. */
  #ack(link: Link, id: Uint8Array, status: AckStatus, receiptKey?: Uint8Array): void {
    link.post({ t: "ack", id, status, receipt: receiptKey ? receiptFor(receiptKey, id) : new Uint8Array(RECEIPT_LEN) });
  }

  #begin(link: Link, m: MessageOf<"deliver">): void {
    const hex = idHex(m.id);
    if (this.#incoming.has(hex)) return this.#ack(link, m.id, "rejected");
    try {
      // The relay can say anything about who sent this; only the signature and the pin count.
      verifySessionKey(m.senderKey.identityPub, m.from, m.senderKey.sessionPub, m.senderKey.issuedAt, m.senderKey.sig);
      if (!bytesEqual(m.recipientSessionPub, link.session.publicKey)) {
        throw new ProtocolError("malformed", "sealed to another session key");
      }
      // "From" ourselves: only our own identity key may sign it. Trusting it on first use
      // would let the relay forge messages from us to us, and shadow our sent copies,
      // which a lookup by id shows after the received copy (store.find).
      if (m.from === this.#user && !bytesEqual(m.senderKey.identityPub, this.#identity)) {
        throw new ProtocolError("bad-signature", "not signed by our own identity key");
      }
    } catch (e) {
      this.#log(`refused message from ${m.from}: ${e instanceof ProtocolError ? e.code : "invalid"}`);
      return this.#ack(link, m.id, "rejected");
    }
    const contact = this.#store.contact(m.from);
    if (!contact) {
      this.#store.pinIdentity(m.from, m.senderKey.identityPub, this.#now());
    } else if (!bytesEqual(contact.identity, m.senderKey.identityPub)) {
      if (!contact.changedIdentity || !bytesEqual(contact.changedIdentity, m.senderKey.identityPub)) {
        this.#store.noteIdentityChange(m.from, m.senderKey.identityPub, this.#now());
        this.#events.emit({ type: "identity-changed", user: m.from });
      }
      return this.#ack(link, m.id, "identity-changed");
    }
    const total = streamPlaintextSize(m.size);
    let keys: { streamKey: Uint8Array; receiptKey: Uint8Array };
    try {
      if (total < 4) throw new ProtocolError("malformed", "announced size");
      keys = openEnvelopeKey({
        id: m.id,
        from: m.from,
        to: this.#user,
        enc: m.enc,
        recipientSessionSecret: link.session.secretKey,
        senderSessionPub: m.senderKey.sessionPub,
      });
    } catch (e) {
      this.#log(`refused message from ${m.from}: ${e instanceof ProtocolError ? e.code : "invalid"}`);
      return this.#ack(link, m.id, "rejected");
    }
    // Already stored: acknowledge again (the first ACK may have been lost), with a receipt.
    if (this.#store.hasIncoming(m.from, hex)) return this.#ack(link, m.id, "duplicate", keys.receiptKey);
    // Ids are 128 random bits: another sender reusing one is trying to shadow a message.
    if (this.#store.idTakenByOther(hex, m.from)) {
      this.#log(`refused message from ${m.from}: its id belongs to another sender's message`);
      return this.#ack(link, m.id, "rejected");
    }
    this.#incoming.set(hex, {
      receiptKey: keys.receiptKey,
      id: m.id,
      hex,
      from: m.from,
      opener: new StreamOpener(keys.streamKey),
      total,
      seen: 0,
      chunks: 0,
      lenBuf: new Uint8Array(4),
      headerLen: -1,
      headerBuf: undefined,
      headerFill: 0,
      header: undefined,
      att: 0,
      attLeft: 0,
      writers: [],
    });
  }

  #chunk(link: Link, inc: Incoming, m: MessageOf<"chunk">): void {
    if (m.seq !== inc.chunks) throw new ProtocolError("malformed", "chunk out of order");
    const pt = inc.opener.open(m.data, m.last);
    inc.chunks++;
    inc.seen += pt.length;
    if (inc.seen > inc.total) throw new ProtocolError("malformed", "more data than announced");
    this.#consume(inc, pt);
    if (!m.last) {
      if (inc.chunks % (WINDOW_CHUNKS / 2) === 0) link.post({ t: "window", id: inc.id, seq: inc.chunks });
      return;
    }
    if (inc.seen !== inc.total || !inc.header || inc.att !== inc.header.attachments.length) {
      throw new ProtocolError("truncated", "message ended early");
    }
    const h = inc.header;
    const stored = this.#store.saveIncoming({
      id: inc.hex,
      from: inc.from,
      to: h.to,
      date: h.date,
      received: this.#now(),
      subject: h.subject,
      body: h.body,
      attachments: inc.writers.map((w, i) => ({ att: w.att, name: h.attachments[i]!.name, size: w.size })),
    });
    this.#incoming.delete(inc.hex);
    this.#ack(link, inc.id, stored ? "stored" : "duplicate", inc.receiptKey);
    if (stored) this.#events.emit({ type: "message", id: inc.hex, from: inc.from, subject: h.subject });
  }

  /** Route decrypted bytes: 4 length bytes, the header, then each attachment in turn. */
  #consume(inc: Incoming, pt: Uint8Array): void {
    let off = 0;
    while (off < pt.length) {
      if (inc.headerLen < 0) {
        const n = Math.min(4 - inc.headerFill, pt.length - off);
        inc.lenBuf.set(pt.subarray(off, off + n), inc.headerFill);
        inc.headerFill += n;
        off += n;
        if (inc.headerFill === 4) {
          inc.headerLen = new DataView(inc.lenBuf.buffer).getUint32(0);
          if (inc.headerLen > MAX_HEADER_BYTES || 4 + inc.headerLen > inc.total) {
            throw new ProtocolError("too-large", "header length");
          }
          inc.headerBuf = new Uint8Array(inc.headerLen);
          inc.headerFill = 0;
          if (inc.headerLen === 0) throw new ProtocolError("malformed", "empty header");
        }
        continue;
      }
      if (!inc.header) {
        const n = Math.min(inc.headerLen - inc.headerFill, pt.length - off);
        inc.headerBuf!.set(pt.subarray(off, off + n), inc.headerFill);
        inc.headerFill += n;
        off += n;
        if (inc.headerFill === inc.headerLen) this.#headerDone(inc);
        continue;
      }
      const n = Math.min(inc.attLeft, pt.length - off);
      inc.writers[inc.att]!.write(pt.subarray(off, off + n));
      inc.attLeft -= n;
      off += n;
      this.#nextAttachment(inc);
    }
  }

  #headerDone(inc: Incoming): void {
    const h = parseHeader(inc.headerBuf!);
    inc.headerBuf = undefined;
    if (h.id !== inc.hex || h.from !== inc.from || !h.to.includes(this.#user)) {
      throw new ProtocolError("malformed", "header does not match the delivery");
    }
    const sizes = h.attachments.reduce((n, a) => n + a.size, 0);
    if (4 + inc.headerLen + sizes !== inc.total) throw new ProtocolError("malformed", "sizes do not add up");
    inc.header = h;
    for (let i = 0; i < h.attachments.length; i++) inc.writers.push(this.#store.newAttachment("incoming", this.#now()));
    inc.att = -1;
    inc.attLeft = 0;
    this.#nextAttachment(inc);
  }

  /** Finish attachments that are complete (zero-length ones included) and move on. */
  #nextAttachment(inc: Incoming): void {
    const atts = inc.header!.attachments;
    while (inc.attLeft === 0 && inc.att < atts.length) {
      if (inc.att >= 0) inc.writers[inc.att]!.finish();
      inc.att++;
      if (inc.att < atts.length) inc.attLeft = atts[inc.att]!.size;
    }
  }

  /**
   * Refuse a transfer: nothing of it stays. A full disk is refused the same way; the sender
   * keeps the message queued and tries again later (SPEC.md §7.5).
   */
  #reject(link: Link, inc: Incoming, e: unknown): void {
    const why = isDiskFull(e) ? DISK_FULL : e instanceof ProtocolError ? e.code : String(e);
    this.#log(`dropped message from ${inc.from}: ${why}`);
    this.#incoming.delete(inc.hex);
    this.#discard(inc);
    this.#ack(link, inc.id, "rejected");
  }

  #discard(inc: Incoming): void {
    for (const w of inc.writers) {
      try {
        this.#store.discardAttachment(w.att);
      } catch (e) {
        this.#log(`could not remove a dropped attachment yet (${isDiskFull(e) ? DISK_FULL : String(e)}); it goes at the next start`);
      }
    }
  }
}



