// The sending side (SPEC.md §5, §6, §8.1): for each queued delivery, fetch the recipient's
// signed session key, check it against the pinned identity, seal with HPKE and stream the
// message as STREAM chunks inside the relay's window. A delivery is done only when the
// recipient's ACK says it is stored; every other outcome leaves it queued or held.

import { Buffer } from "node:buffer";
import { encodeHeader, receiptFor, sealEnvelopeKey } from "../protocol/envelope.ts";
import { verifySessionKey } from "../protocol/keys.ts";
import { verifyPrekey } from "../protocol/prekeys.ts";
import { WINDOW_CHUNKS, type Message, type MessageOf, type SignedSessionKey, idHex } from "../protocol/messages.ts";
import { STREAM_CHUNK, StreamWriter, streamCiphertextSize } from "../protocol/stream.ts";
import type { Link } from "./relay-client.ts";
import { DISK_FULL, isDiskFull, type Store } from "./store.ts";
import type { EventBus } from "./events.ts";
import type { StoredContent } from "./store-keys.ts";
import { bytesEqual, releaseBytes } from "../protocol/bytes.ts";
import { constantTimeEqual } from "../protocol/primitives.ts";
import { explainIdentityChange } from "./identity-change.ts";
import { ProtocolError } from "../protocol/errors.ts";

const MAX_CONCURRENT = 4;
/** Transient refusals (busy, a key that just changed, a hiccup): soon, not in a hot loop. */
const RETRY_SOON_MS = 1000;
/** The recipient does not trust our identity yet: until they accept it, try now and then. */
const RETRY_UNTRUSTED_MS = 30_000;
const MAX_RETRY_MS = 3600_000;
/** The relay's per-user message rate (SPEC.md §6.5) refills over a minute. */
const RATE_LIMITED_MS = 15_000;
/** The recipient's mailbox at the relay is full, or the relay's disk: not before it can have changed. */
const MAILBOX_FULL_MS = 15 * 60_000;
/** A transfer with no word from the relay or recipient for this long is given up and retried. */
const STALL_MS = 120_000;
/**
 * A chunk is sealed and posted only while less than this waits for the kernel on the link,
 * whatever window the relay granted (up to 16 MiB, SPEC.md §6.3): what the kernel has not
 * taken is the daemon's own memory, and a full window of it raised its peak by as much.
 * The socket's buffer and the path hold what is in flight; this only has to keep write() fed.
 */
export const SEND_QUEUE_BYTES = 1024 * 1024;

type Outcome =
  | { kind: "delivered" }
  /** retryIn: ms until the next attempt; absent means "when the relay says they are online". */
  | { kind: "queued"; reason: string; retryIn?: number }
  | { kind: "held"; reason: string }
  | { kind: "failed"; reason: string }
  /** In the recipient's mailbox at the relay (SPEC.md §12.5): receipt is what their ACK must carry. */
  | { kind: "waiting"; receipt: Uint8Array };

/** What a transfer sends: the message's content and its attachments' plaintext, in order. */
interface Outgoing {
  msg: { to: string[]; date: number; content: StoredContent };
  attachments: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  /** Resolves when the last chunk may go; rejects when it never will (the transfer is aborted). */
  beforeLast?: Promise<unknown>;
}

/**
 * A message whose attachments are still being uploaded (CLIENT.md §2.3, `POST /api/send/upload`):
 * not in the store yet, so the outbox takes it from the daemon. `committed` resolves with its
 * rid once it is stored, and rejects when the upload failed and it never will be.
 */
export interface LiveMessage {
  id: string;
  to: string[];
  date: number;
  content: StoredContent;
  attachments: () => AsyncIterable<Uint8Array>;
  committed: Promise<number>;
}

type Result = MessageOf<"ack" | "sendFailed" | "held"> | "down" | "stalled";

interface Active {
  window: number;
  /** Chunks < limit may be sent: the last WINDOW's limit, WINDOW_CHUNKS before any (SPEC.md §6.3). */
  limit: number;
  wake: (() => void) | undefined;
  result: Promise<Result>;
  settle: (m: Result) => void;
  settled: boolean;
  /** Heard from the relay or recipient about this transfer: it is alive. */
  touch: () => void;
}

export class Outbox {
  #store: Store;
  #user: string;
  #identity: Uint8Array; // our own identity key: never trusted on first use, known
  #events: EventBus;
  #now: () => number;
  #link: Link | undefined;
  #active = new Map<string, Active>(); // transfers on the wire, by hex message id
  #attempts = new Set<string>(); // ids being worked on, from the first await on: the concurrency bound
  #failures = new Map<string, number>(); // "id recipient" -> refusals in a row, for backoff
  #offline = new Set<string>(); // recipients the relay said are offline: wait for presence
  /** Presence "online" events counted, and the count at each user's latest: an attempt that
   * learnt "offline" must not wait for a presence that came while it was still asking. */
  #presences = 0;
  #onlineAt = new Map<string, number>();
  #notBefore = new Map<string, number>(); // "id recipient" -> earliest next attempt (backoff)
  #running = false;
  #again = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #log: (line: string) => void;
  /** The most bytes waiting on the link right after a chunk was posted (tests read it). */
  peakQueuedBytes = 0;

  constructor(deps: { store: Store; user: string; identity: Uint8Array; events: EventBus; now: () => number; log: (line: string) => void }) {
    this.#log = deps.log;
    this.#store = deps.store;
    this.#user = deps.user;
    this.#identity = deps.identity;
    this.#events = deps.events;
    this.#now = deps.now;
  }

  up(link: Link): void {
    this.#link = link;
    this.#offline.clear();
    // Told when anyone comes or goes: queued mail goes as soon as its recipient connects,
    // and the mailbox shows who is online. Groups are small; WATCH can name users instead.
    link.post({ t: "watch", all: true, users: [] });
    this.kick();
  }

  down(link: Link): void {
    if (this.#link !== link) return;
    this.#link = undefined;
    for (const a of this.#active.values()) a.settle("down");
  }

  /** Messages from the relay that belong to sending. */
  handle(m: Message): boolean {
    switch (m.t) {
      case "window": {
        const a = this.#active.get(idHex(m.id));
        if (!a) return true;
        // The silence timer restarts only when the recipient consumed more (SPEC.md §7.1).
        if (m.seq > a.window) {
          a.window = m.seq;
          a.touch();
        }
        if (m.limit > a.limit) {
          a.limit = m.limit;
          a.wake?.();
        }
        return true;
      }
      case "ack":
      case "sendFailed":
      case "held":
        this.#active.get(idHex(m.id))?.settle(m);
        return true;
      case "notice":
        this.#notice(m);
        return true;
      case "presence":
        if (m.online) this.#onlineAt.set(m.user, ++this.#presences);
        if (m.online && this.#offline.delete(m.user)) this.kick();
        return false; // the daemon reports presence too
      default:
        return false;
    }
  }

  /**
   * What became of mail that waited at the relay (SPEC.md §12.5): recorded, then NOTICE_DONE,
   * so that a crash in between gets the notice again.
   */
  #notice(m: MessageOf<"notice">): void {
    const hex = idHex(m.id);
    const w = this.#store.waitingDelivery(hex, m.to);
    if (w) {
      let state: "delivered" | "queued" | "failed";
      let reason: string | null = null;
      if (m.kind === "expired") {
        state = "failed";
        reason = "expired at the relay";
      } else if ((m.status === "stored" || m.status === "duplicate") && constantTimeEqual(m.receipt, w.receipt)) {
        state = "delivered";
      } else {
        state = "queued";
        reason = m.status === "stored" || m.status === "duplicate" ? `the relay claimed ${m.to} stored it, without proof` : `${m.to} did not store it (${m.status})`;
      }
      try {
        this.#store.setDelivery(w.rid, m.to, state, reason, this.#now());
      } catch (e) {
        this.#log(`could not record the notice for ${hex} to ${m.to}: ${isDiskFull(e) ? DISK_FULL : String(e)}`);
        return; // no NOTICE_DONE: the relay tells us again next time
      }
      this.#events.emit({ type: "delivery", id: hex, recipient: m.to, state });
      // A refusal or a receipt without proof, as for an ACK (SPEC.md §7.1): retried with backoff.
      if (state === "queued") this.#refused(`${hex} ${m.to}`, RETRY_UNTRUSTED_MS);
    }
    this.#link?.post({ t: "noticeDone", id: m.id, to: m.to });
  }

  /** Look at the queue again soon; cheap to call often. */
  kick(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    queueMicrotask(() => void this.#run());
  }

  async #run(): Promise<void> {
    try {
      do {
        this.#again = false;
        const link = this.#link;
        if (!link) return;
        for (const q of this.#store.queued()) {
          if (this.#attempts.size >= MAX_CONCURRENT) break;
          if (this.#attempts.has(q.id) || this.#offline.has(q.recipient)) continue;
          if ((this.#notBefore.get(`${q.id} ${q.recipient}`) ?? 0) > this.#now()) continue;
          this.#attempts.add(q.id); // one recipient of a message at a time: the relay keys transfers by id
          void this.#deliver(link, q.rid, q.id, q.recipient).finally(() => {
            this.#attempts.delete(q.id);
            this.kick();
          });
        }
      } while (this.#again);
    } finally {
      this.#running = false;
    }
  }

  /**
   * Start sending a message while its attachments are still being uploaded, to its first
   * recipient not known to be offline: the transfer follows the upload and holds its last
   * chunk back until the message is stored, so a recipient never stores what the sender lost.
   * The other recipients, and this one if this attempt does not deliver, go through the
   * queue once the message is stored. Does nothing while no transfer can start now.
   */
  live(m: LiveMessage): void {
    m.committed.catch(() => {}); // a failed upload is the daemon's to report; here it only ends the transfer
    const link = this.#link;
    const recipient = m.to.find((u) => !this.#offline.has(u));
    if (!link || recipient === undefined || this.#attempts.has(m.id) || this.#attempts.size >= MAX_CONCURRENT) return;
    this.#attempts.add(m.id); // the queue leaves the message alone while this attempt runs
    const presencesBefore = this.#presences;
    void (async () => {
      const outcome = await this.#attempt(link, m.id, recipient, () => ({ msg: m, attachments: m.attachments, beforeLast: m.committed }));
      let rid: number;
      try {
        rid = await m.committed;
      } catch {
        return; // never stored, so never sent: #transfer aborted it at the relay
      }
      this.#record(rid, m.id, recipient, outcome, presencesBefore);
    })().finally(() => {
      this.#attempts.delete(m.id);
      this.kick();
    });
  }

  async #deliver(link: Link, rid: number, id: string, recipient: string): Promise<void> {
    const presencesBefore = this.#presences;
    const outcome = await this.#attempt(link, id, recipient, () => this.#stored(rid));
    this.#record(rid, id, recipient, outcome, presencesBefore);
  }

  /** A stored message as a transfer reads it. */
  #stored(rid: number): Outgoing {
    const store = this.#store;
    const msg = store.outgoing(rid);
    return {
      msg,
      attachments: function* () {
        for (let i = 0; i < msg.content.attachments.length; i++) yield* store.readAttachment(rid, i);
      },
    };
  }

  async #attempt(link: Link, id: string, recipient: string, source: () => Outgoing): Promise<Outcome> {
    try {
      return await this.#transfer(link, id, recipient, source);
    } catch (e) {
      return { kind: "queued", reason: e instanceof Error ? e.message : String(e), retryIn: RETRY_SOON_MS };
    }
  }

  /** Record what became of one delivery, and when to try it again. */
  #record(rid: number, id: string, recipient: string, outcome: Outcome, presencesBefore: number): void {
    const state = outcome.kind;
    const key = `${id} ${recipient}`;
    try {
      if (outcome.kind === "waiting") this.#store.setWaiting(rid, recipient, outcome.receipt, this.#now());
      else this.#store.setDelivery(rid, recipient, outcome.kind, outcome.kind === "delivered" ? null : outcome.reason, this.#now());
    } catch (e) {
      // Not recorded (a full disk): on disk it is still queued, so it goes again later; if
      // it was delivered, the recipient answers "duplicate" and that is recorded then.
      this.#log(`could not record the delivery of ${id} to ${recipient}: ${isDiskFull(e) ? DISK_FULL : String(e)}`);
      this.#later(key, RETRY_UNTRUSTED_MS);
      return;
    }
    if (outcome.kind === "queued" && outcome.retryIn !== undefined) {
      this.#refused(key, outcome.retryIn);
    } else {
      this.#failures.delete(key);
      this.#notBefore.delete(key);
      // Online again while this attempt was asking (a KEY, then a BUNDLE): go again, do not wait.
      if (outcome.kind === "queued" && (this.#onlineAt.get(recipient) ?? 0) <= presencesBefore) this.#offline.add(recipient);
    }
    this.#events.emit({ type: "delivery", id, recipient, state });
  }

  /**
   * Refused again and again (a recipient that rejects it, a relay that loses it): back off up
   * to an hour instead of resending the whole message every few seconds. Per message: one
   * refused message must not hold back other mail to the same person.
   */
  #refused(key: string, base: number): void {
    const n = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, n);
    this.#later(key, Math.min(MAX_RETRY_MS, base * 2 ** Math.min(n - 1, 12)));
  }

  /** Skip this delivery ("id recipient") for delayMs, then look at the queue again. */
  #later(key: string, delayMs: number): void {
    this.#notBefore.set(key, this.#now() + delayMs);
    this.#arm();
  }

  /** One timer, set for the earliest pending retry. */
  #arm(): void {
    const now = this.#now();
    let next = Infinity;
    for (const [k, t] of this.#notBefore) {
      if (t <= now) this.#notBefore.delete(k);
      else if (t < next) next = t;
    }
    if (next === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = next;
    if (next === Infinity) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#arm();
      this.kick();
    }, next - now);
  }

  /** Stop timers (the daemon is stopping). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  async #transfer(link: Link, id: string, recipient: string, source: () => Outgoing): Promise<Outcome> {
    const k = await link.getKey(recipient);
    if (link.closed) return { kind: "queued", reason: "connection lost" };
    if (k.status === "unknown") return { kind: "failed", reason: `${recipient} is not a user of this relay` };
    let key: SignedSessionKey;
    let mode: "send" | "post" = "send";
    if (k.status === "offline" || !k.key) {
      // Offline: seal to a prekey they left at the relay, and leave it there (SPEC.md §12.5).
      const b = await link.getBundle(recipient);
      if (link.closed) return { kind: "queued", reason: "connection lost" };
      if (b.status === "unknown") return { kind: "failed", reason: `${recipient} is not a user of this relay` };
      if (b.status !== "ok" || !b.signed) return { kind: "queued", reason: `${recipient} is offline` };
      try {
        verifyPrekey("signed", recipient, b.signed);
        if (b.oneTime) {
          verifyPrekey("one-time", recipient, b.oneTime);
          if (!bytesEqual(b.oneTime.identityPub, b.signed.identityPub)) throw new ProtocolError("bad-signature", "prekeys of two identities");
        }
      } catch {
        return { kind: "queued", reason: `the relay gave badly signed prekeys for ${recipient}`, retryIn: RETRY_UNTRUSTED_MS };
      }
      key = b.oneTime ?? b.signed;
      mode = "post";
    } else {
      key = k.key;
      try {
        verifySessionKey(key.identityPub, recipient, key.sessionPub, key.sessionKemPub, key.issuedAt, key.sig);
      } catch {
        return { kind: "queued", reason: `the relay gave a badly signed key for ${recipient}`, retryIn: RETRY_UNTRUSTED_MS };
      }
    }
    // A note to self: we know our own identity key, so a key for our own user id signed by
    // another one is the relay's, not a first contact (it would read the note).
    if (recipient === this.#user && !bytesEqual(key.identityPub, this.#identity)) {
      return { kind: "queued", reason: `the relay gave a key for ${recipient} that is not signed by our own identity key`, retryIn: RETRY_UNTRUSTED_MS };
    }
    const contact = this.#store.contact(recipient);
    if (!contact) {
      this.#store.pinIdentity(recipient, key.identityPub, this.#now());
    } else if (!bytesEqual(contact.identity, key.identityPub)) {
      // A password change is explained by the contact's statement signed by the pinned key.
      const explained = await explainIdentityChange(this.#store, link, recipient, contact.identity, key.identityPub, this.#now, this.#log);
      if (link.closed) return { kind: "queued", reason: "connection lost" };
      if (!explained) {
        const now = this.#store.contact(recipient);
        if (!now?.changedIdentity || !bytesEqual(now.changedIdentity, key.identityPub)) {
          this.#store.noteIdentityChange(recipient, key.identityPub, this.#now());
          this.#events.emit({ type: "identity-changed", user: recipient });
        }
        return { kind: "held", reason: `${recipient}'s identity key changed; accept it to send` };
      }
    }

    const src = source();
    const msg = src.msg;
    const idBytes = new Uint8Array(Buffer.from(id, "hex"));
    let sealed: Awaited<ReturnType<typeof sealEnvelopeKey>>;
    try {
      sealed = await sealEnvelopeKey({
        id: idBytes,
        from: this.#user,
        to: recipient,
        senderSessionSecret: link.session.secretKey,
        recipientSessionPub: key.sessionPub,
        recipientSessionKemPub: key.sessionKemPub,
      });
    } catch (e) {
      // Signed, yet not an ML-KEM-768 key (FIPS 203 §7.2 modulus check): their client is
      // broken, or their identity key is in other hands. Never sealed classically instead.
      if (!(e instanceof ProtocolError)) throw e;
      return { kind: "queued", reason: `the session key of ${recipient} is not a valid ML-KEM-768 key (${e.code})`, retryIn: RETRY_UNTRUSTED_MS };
    }
    // The encapsulation is asynchronous: the connection may have gone meanwhile.
    if (link.closed) return { kind: "queued", reason: "connection lost" };
    const { enc, kemCiphertext, streamKey, receiptKey } = sealed;
    const header = encodeHeader({
      v: 1,
      id,
      from: this.#user,
      to: msg.to,
      date: msg.date,
      subject: msg.content.subject,
      body: msg.content.body,
      attachments: msg.content.attachments,
    });
    const total = header.length + msg.content.attachments.reduce((n, a) => n + a.size, 0);
    const size = streamCiphertextSize(total);
    if (size > link.hello.maxMessageBytes) {
      return { kind: "failed", reason: `the message is larger than this relay allows (${link.hello.maxMessageBytes} bytes)` };
    }

    let settle!: Active["settle"];
    const result = new Promise<Result>((r) => (settle = r));
    let stall: ReturnType<typeof setTimeout> | undefined;
    const active: Active = {
      window: 0,
      limit: WINDOW_CHUNKS,
      wake: undefined,
      result,
      settled: false,
      settle: (m) => {
        if (active.settled) return;
        active.settled = true;
        clearTimeout(stall);
        settle(m);
        active.wake?.();
      },
      touch: () => {
        clearTimeout(stall);
        stall = setTimeout(() => active.settle("stalled"), STALL_MS);
      },
    };
    this.#active.set(id, active);
    active.touch();
    try {
      link.post({ t: mode, id: idBytes, to: recipient, size, senderKey: link.sessionKey, recipientSessionPub: key.sessionPub, enc, kemCiphertext });
      await this.#stream(link, active, idBytes, streamKey, header, src, total);
      const r = await result;
      // Give the relay back its transfer slot when we stop before the recipient answered.
      if (r === "stalled") link.post({ t: "abort", id: idBytes });
      return outcomeOf(r, recipient, receiptFor(receiptKey, idBytes));
    } catch (e) {
      active.settle("stalled");
      link.post({ t: "abort", id: idBytes });
      throw e;
    } finally {
      clearTimeout(stall);
      this.#active.delete(id);
    }
  }

  /** Seal header and attachments into STREAM chunks, never more than the window ahead. */
  async #stream(
    link: Link,
    a: Active,
    id: Uint8Array,
    streamKey: Uint8Array,
    header: Uint8Array,
    src: Outgoing,
    total: number,
  ): Promise<void> {
    // In pieces (ciphertext, tag): sealing does not join them, the socket's writer does once.
    const sealed: { data: Uint8Array[]; last: boolean }[] = [];
    const writer = new StreamWriter(streamKey, (data, last) => sealed.push({ data, last }), { parts: true });
    let seq = 0;
    /** Post the chunks sealed so far as the window allows; false once the transfer is over. */
    const send = async (): Promise<boolean> => {
      for (const c of sealed.splice(0)) {
        while (!a.settled && seq >= a.limit) {
          await new Promise<void>((r) => (a.wake = r));
          a.wake = undefined;
        }
        while (!a.settled && !link.closed && link.queuedBytes >= SEND_QUEUE_BYTES) await link.written();
        if (a.settled || link.closed) return false; // acked early (duplicate) or failed
        link.postChunk(id, seq, c.last, c.data);
        this.peakQueuedBytes = Math.max(this.peakQueuedBytes, link.queuedBytes);
        seq++;
      }
      return true;
    };
    /** A piece into the writer, and out as the window allows; false once the transfer is over. */
    const seal = async (piece: Uint8Array): Promise<boolean> => {
      // A chunk's worth at a time: a 4 MiB header is not sealed far ahead of the window.
      for (let off = 0; off < piece.length; off += STREAM_CHUNK) {
        writer.write(piece.subarray(off, off + STREAM_CHUNK));
        if (writer.size > total) throw new Error("stored message changed size while sending");
        if (!(await send())) return false;
      }
      return true;
    };
    if (!(await seal(header))) return;
    for await (const piece of src.attachments()) {
      if (!(await seal(piece))) return;
      // A stored chunk's plaintext, opened into a new buffer and now copied into the writer's.
      releaseBytes(piece);
    }
    if (writer.size !== total) throw new Error("stored message changed size while sending");
    // Everything but the last chunk is out (the writer holds a full chunk until it knows it
    // is the last): the recipient cannot store the message before the sender has.
    await src.beforeLast;
    if (a.settled || link.closed) return;
    writer.close();
    await send();
  }
}

function outcomeOf(r: Result, recipient: string, receipt: Uint8Array): Outcome {
  if (r === "down") return { kind: "queued", reason: "connection to the relay lost" };
  if (r === "stalled") return { kind: "queued", reason: `no answer from ${recipient} in ${STALL_MS / 1000} s`, retryIn: RETRY_SOON_MS };
  if (r.t === "held") return { kind: "waiting", receipt };
  if (r.t === "ack") {
    switch (r.status) {
      case "stored":
      case "duplicate":
        // Only the recipient can compute the receipt: a relay that says "stored" for a
        // message it dropped is caught here, and the message stays queued.
        if (!constantTimeEqual(r.receipt, receipt)) {
          return { kind: "queued", reason: `the relay claimed ${recipient} stored it, without proof`, retryIn: RETRY_UNTRUSTED_MS };
        }
        return { kind: "delivered" };
      case "identity-changed":
        return { kind: "queued", reason: `${recipient} has not accepted our identity key yet`, retryIn: RETRY_UNTRUSTED_MS };
      case "rejected":
        return { kind: "queued", reason: `${recipient}'s client rejected the message`, retryIn: RETRY_UNTRUSTED_MS };
    }
  }
  switch (r.reason) {
    case "offline":
    case "recipient-gone":
      return { kind: "queued", reason: `${recipient} is offline` };
    case "unknown-user":
      return { kind: "failed", reason: `${recipient} is not a user of this relay` };
    case "too-large":
      return { kind: "failed", reason: "the message is larger than the relay allows" };
    case "rate-limited":
      return { kind: "queued", reason: "the relay's limit of messages per minute was reached; retrying", retryIn: RATE_LIMITED_MS };
    case "stale-key":
    case "busy":
    case "aborted":
      return { kind: "queued", reason: `the relay said ${r.reason}; retrying`, retryIn: RETRY_SOON_MS };
    case "over-quota":
      return { kind: "queued", reason: `${recipient}'s mailbox at the relay is full; retrying later`, retryIn: MAILBOX_FULL_MS };
    case "relay-full":
      return { kind: "queued", reason: "the relay's disk is full; retrying later", retryIn: MAILBOX_FULL_MS };
    case "no-mailbox":
      return { kind: "queued", reason: `${recipient} is offline` };
  }
}



