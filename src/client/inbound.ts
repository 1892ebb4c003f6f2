// The receiving side (SPEC.md §5, §6, §8.2): check the sender's signed session key against
// the pinned identity, open the hybrid HPKE envelope (its ML-KEM-768 decapsulation is
// asynchronous: CHUNKs that come meanwhile wait in order), decrypt STREAM chunks, read the
// plaintext with protocol/plaintext.ts, re-encrypt attachments under fresh store keys, and
// ACK only after the message is committed to disk.

import { openEnvelopeKey, receiptFor, streamPlaintextSize, type EnvelopeHeader } from "../protocol/envelope.ts";
import { verifySessionKey } from "../protocol/keys.ts";
import { WindowGrant } from "./window-grant.ts";
import { RECEIPT_LEN, WINDOW_CHUNKS, type AckStatus, type Message, type MessageOf, idHex } from "../protocol/messages.ts";
import { StreamOpener } from "../protocol/stream.ts";
import { PlaintextParser } from "../protocol/plaintext.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { Link } from "./relay-client.ts";
import type { AttachmentWriter } from "./attachment-writer.ts";
import { DISK_FULL, isDiskFull, type PrekeySecret, type Store } from "./store.ts";
import { mlkemDecaps } from "../protocol/mlkem.ts";
import type { EventBus } from "./events.ts";
import { bytesEqual, copyBytes, releaseBytes } from "../protocol/bytes.ts";
import { explainIdentityChange } from "./identity-change.ts";

interface Incoming {
  id: Uint8Array;
  /** Both undefined until the envelope is open. */
  receiptKey: Uint8Array | undefined;
  opener: StreamOpener | undefined;
  /** CHUNKs that came while the envelope was being opened, in order. */
  early: MessageOf<"chunk">[];
  hex: string;
  from: string;
  parser: PlaintextParser;
  chunks: number;
  window: WindowGrant;
  /** Sealed to a prekey (mail that waited at the relay, SPEC.md §12.5), not to the session key. */
  prekey: PrekeySecret | undefined;
  header: EnvelopeHeader | undefined;
  writers: AttachmentWriter[];
}

/**
 * A CHUNK kept past its record's handling, with its own copy of the data: the relay link
 * gives a lone CHUNK's record back to the allocator once it was handled (relay-client.ts).
 */
function held(m: MessageOf<"chunk">): MessageOf<"chunk"> {
  return { ...m, data: copyBytes(m.data) };
}

export class Inbound {
  #store: Store;
  #user: string;
  #identity: Uint8Array; // our own identity key: never trusted on first use, known
  #events: EventBus;
  #now: () => number;
  #log: (line: string) => void;
  #incoming = new Map<string, Incoming>();
  #checking = new Map<string, MessageOf<"chunk">[]>(); // transfers whose sender's key change is being looked up

  constructor(deps: { store: Store; user: string; identity: Uint8Array; events: EventBus; now: () => number; log: (line: string) => void }) {
    this.#store = deps.store;
    this.#user = deps.user;
    this.#identity = deps.identity;
    this.#events = deps.events;
    this.#now = deps.now;
    this.#log = deps.log;
  }

  down(): void {
    this.#checking.clear();
    for (const inc of this.#incoming.values()) this.#discard(inc);
    this.#incoming.clear();
  }

  handle(link: Link, m: Message): boolean {
    switch (m.t) {
      case "deliver":
        this.#begin(link, m);
        return true;
      case "chunk": {
        const waiting = this.#checking.get(idHex(m.id));
        if (waiting) {
          waiting.push(held(m));
          return true;
        }
        const inc = this.#incoming.get(idHex(m.id));
        if (!inc) return true; // a transfer we already refused or finished
        if (!inc.opener) {
          // An honest sender stays within the window; more is a relay flooding our memory.
          if (inc.early.length >= WINDOW_CHUNKS) this.#reject(link, inc, new ProtocolError("malformed", "chunks beyond the window while the envelope opens"));
          else inc.early.push(held(m));
          return true;
        }
        try {
          this.#chunk(link, inc, m);
        } catch (e) {
          this.#reject(link, inc, e);
        }
        return true;
      }
      case "abort": {
        this.#checking.delete(idHex(m.id));
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

  /**
   * The sender's identity key is not the pin: ask the relay for their signed statements
   * (SPEC.md §5.5) while the transfer's first CHUNKs wait here (at most the window, which the
   * relay enforces), then begin again: with the pin moved, or refused as a changed identity.
   */
  #explain(link: Link, m: MessageOf<"deliver">, pinned: Uint8Array): void {
    const hex = idHex(m.id);
    const waiting: MessageOf<"chunk">[] = [];
    this.#checking.set(hex, waiting);
    void explainIdentityChange(this.#store, link, m.from, pinned, m.senderKey.identityPub, this.#now, this.#log).then((moved) => {
      if (this.#checking.get(hex) !== waiting || link.closed) return; // aborted, or the link went down
      this.#checking.delete(hex);
      this.#begin(link, m, !moved);
      for (const c of waiting) this.handle(link, c);
    });
  }

  /** explained: the statements were asked for already and did not explain a differing key. */
  #begin(link: Link, m: MessageOf<"deliver">, explained = false): void {
    const hex = idHex(m.id);
    if (this.#incoming.has(hex) || this.#checking.has(hex)) return this.#ack(link, m.id, "rejected");
    let prekey: PrekeySecret | undefined;
    try {
      // The relay can say anything about who sent this; only the signature and the pin count.
      verifySessionKey(m.senderKey.identityPub, m.from, m.senderKey.sessionPub, m.senderKey.sessionKemPub, m.senderKey.issuedAt, m.senderKey.sig);
      if (!bytesEqual(m.recipientSessionPub, link.session.publicKey)) {
        // Mail that waited at the relay is sealed to one of our prekeys, if we still hold it.
        prekey = this.#store.prekeySecret(m.recipientSessionPub);
        if (!prekey) throw new ProtocolError("malformed", "sealed to another session key or a prekey no longer held");
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
      if (!explained) return this.#explain(link, m, contact.identity);
      if (!contact.changedIdentity || !bytesEqual(contact.changedIdentity, m.senderKey.identityPub)) {
        this.#store.noteIdentityChange(m.from, m.senderKey.identityPub, this.#now());
        this.#events.emit({ type: "identity-changed", user: m.from });
      }
      return this.#ack(link, m.id, "identity-changed");
    }
    let inc: Incoming;
    try {
      const writers: AttachmentWriter[] = [];
      // Checks the announced size before any crypto runs.
      const parser = new PlaintextParser(streamPlaintextSize(m.size), { id: hex, from: m.from, recipient: this.#user }, {
        header: (h) => {
          inc.header = h;
          for (let i = 0; i < h.attachments.length; i++) writers.push(this.#store.newAttachment("incoming", this.#now()));
        },
        attachment: (i, bytes) => writers[i]!.write(bytes),
        attachmentEnd: (i) => void writers[i]!.finish(),
      });
      inc = { id: m.id, receiptKey: undefined, opener: undefined, early: [], hex, from: m.from, parser, chunks: 0, window: new WindowGrant(), prekey, header: undefined, writers };
    } catch (e) {
      this.#log(`refused message from ${m.from}: ${e instanceof ProtocolError ? e.code : "invalid"}`);
      return this.#ack(link, m.id, "rejected");
    }
    // The id is taken from here on: a second DELIVER of it while this one opens is refused.
    this.#incoming.set(hex, inc);
    void this.#open(link, inc, m);
  }

  /** SPEC.md §5.2: both secrets, X25519 and ML-KEM-768, or nothing; then the early CHUNKs. */
  async #open(link: Link, inc: Incoming, m: MessageOf<"deliver">): Promise<void> {
    let keys: { streamKey: Uint8Array; receiptKey: Uint8Array };
    try {
      keys = await openEnvelopeKey({
        id: m.id,
        from: m.from,
        to: this.#user,
        enc: m.enc,
        kemCiphertext: m.kemCiphertext,
        recipientSessionSecret: inc.prekey?.secret ?? link.session.secretKey,
        recipientSessionKem: inc.prekey ? { decapsulate: (ct) => mlkemDecaps(inc.prekey!.kemSeed, ct) } : link.sessionKem,
        senderSessionPub: m.senderKey.sessionPub,
      });
    } catch (e) {
      if (this.#incoming.get(inc.hex) !== inc) return;
      this.#incoming.delete(inc.hex);
      this.#log(`refused message from ${m.from}: ${e instanceof ProtocolError ? e.code : "invalid"}`);
      return this.#ack(link, m.id, "rejected");
    }
    if (this.#incoming.get(inc.hex) !== inc) return; // aborted, or the connection went, meanwhile
    // Already stored: acknowledge again (the first ACK may have been lost), with a receipt.
    if (this.#store.hasIncoming(m.from, inc.hex)) {
      this.#incoming.delete(inc.hex);
      this.#usedPrekey(inc);
      return this.#ack(link, m.id, "duplicate", keys.receiptKey);
    }
    // Ids are 128 random bits: another sender reusing one is trying to shadow a message.
    if (this.#store.idTakenByOther(inc.hex, m.from)) {
      this.#incoming.delete(inc.hex);
      this.#log(`refused message from ${m.from}: its id belongs to another sender's message`);
      return this.#ack(link, m.id, "rejected");
    }
    inc.receiptKey = keys.receiptKey;
    inc.opener = new StreamOpener(keys.streamKey);
    for (const c of inc.early.splice(0)) {
      if (this.#incoming.get(inc.hex) !== inc) return; // refused or finished by an earlier one
      try {
        this.#chunk(link, inc, c);
      } catch (e) {
        this.#reject(link, inc, e);
      }
    }
  }

  #chunk(link: Link, inc: Incoming, m: MessageOf<"chunk">): void {
    if (m.seq !== inc.chunks) throw new ProtocolError("malformed", "chunk out of order");
    const plaintext = inc.opener!.open(m.data, m.last);
    inc.parser.push(plaintext);
    // The parser copied what it keeps (the header, the attachment writer's chunk buffer).
    releaseBytes(plaintext);
    inc.chunks++;
    if (!m.last) {
      const w = inc.window.consumed(inc.chunks, this.#now());
      if (w) link.post({ t: "window", id: inc.id, seq: w.seq, limit: w.limit });
      return;
    }
    inc.parser.end();
    const h = inc.header!;
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
    this.#usedPrekey(inc);
    this.#ack(link, inc.id, stored ? "stored" : "duplicate", inc.receiptKey);
    if (stored) this.#events.emit({ type: "message", id: inc.hex, from: inc.from, subject: h.subject });
  }

  /** A one-time prekey opened its message, now stored: its secret goes (SPEC.md §12.1). */
  #usedPrekey(inc: Incoming): void {
    if (inc.prekey?.kind !== "one-time") return;
    try {
      this.#store.deletePrekey(inc.prekey.pub);
    } catch (e) {
      this.#log(`could not delete a used one-time prekey yet: ${isDiskFull(e) ? DISK_FULL : String(e)}`);
    }
  }

  /**
   * Refuse a transfer: nothing of it stays. A full disk is refused the same way; the sender
   * keeps the message queued and tries again later (CLIENT.md §1.5).
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



