// Mail that waits at the relay (SPEC.md §12.3, §12.4): prekeys and bundles, uploads answered
// HELD once durable, delivery of waiting mail oldest first within the recipient's window and
// the session's output budget, and the notices kept for senders. Storage is a MailboxStore.

import { ProtocolError } from "../protocol/errors.ts";
import { verifyPrekey } from "../protocol/prekeys.ts";
import { bytesEqual } from "../protocol/bytes.ts";
import { ed25519VerifyNative } from "../protocol/primitives.ts";
import {
  WINDOW_CHUNKS,
  decodeMessage,
  decodeSignedKey,
  encodeMessage,
  encodeSignedKey,
  idHex,
  type FailReason,
  type Message,
  type MessageOf,
  type SignedSessionKey,
} from "../protocol/messages.ts";
import type { Log } from "./log.ts";
import { crashPoint } from "../net/crash-point.ts";
import type { Body, MailboxStore, Notice, Upload, WaitingMail } from "./mailbox-store.ts";

/** A full STREAM chunk's ciphertext (SPEC.md §5.4): waiting mail is read back in these. */
const CHUNK_BYTES = 61456;
/** Waiting messages delivered to one session at once (SPEC.md §12.4). */
export const WAITING_IN_FLIGHT = 16;
/** No chunk of waiting mail is posted while the session owes more than this. */
const WAITING_OUTPUT_BYTES = 256 * 1024;
/** One-time prekeys one user may take of another's per hour (SPEC.md §12.3). */
export const ONE_TIME_PER_HOUR = 10;
const MAX_ONE_TIME_STOCK = 200;
const MAX_UPLOADS_PER_SESSION = 8;
/** The relay's window for an upload: granted every 16 chunks written. */
const UPLOAD_WINDOW = 64;

export interface MailboxOptions {
  quotaBytes: number;
  retentionMs: number;
}

/** What the mailbox needs of a session: who it is, a queue, and how much it owes. */
export interface MailboxSession {
  readonly user: string;
  readonly sessionKey: SignedSessionKey | undefined;
  readonly owed: number;
  readonly incoming: Map<string, unknown>;
  post(m: Message): boolean;
  fail(code: "window", reason: string): void;
}

interface Up {
  upload: Upload;
  id: Uint8Array;
  to: string;
  size: number;
  received: number;
  nextSeq: number;
  limit: number;
  deliver: Uint8Array;
}

interface Drain {
  mail: WaitingMail;
  chunks: number;
  sent: number;
  limit: number;
}

interface Receiver {
  after: number; // the last waiting mail's n handed out: oldest first, each once per connection
  drains: Map<string, Drain>;
  exhausted: boolean;
}

export class Mailbox {
  readonly store: MailboxStore;
  readonly opts: MailboxOptions;
  #log: Log;
  #now: () => number;
  #find: (user: string) => MailboxSession | undefined;
  #uploads = new Map<MailboxSession, Map<string, Up>>();
  #receivers = new Map<MailboxSession, Receiver>();
  #lastExpiry = 0;
  /** Uploads finished and ACKs received this turn: committed together (one fsync each kind). */
  #toHold: { s: MailboxSession; u: Up; body: Body; created: number }[] = [];
  #toAnswer: { s: MailboxSession; mail: WaitingMail; notice: Notice }[] = [];
  #flushing = false;

  constructor(deps: { store: MailboxStore; opts: MailboxOptions; log: Log; now: () => number; find: (user: string) => MailboxSession | undefined }) {
    this.store = deps.store;
    this.opts = deps.opts;
    this.#log = deps.log;
    this.#now = deps.now;
    this.#find = deps.find;
  }

  /** s became the route to its user: its prekey state, its notices, then what waits for it. */
  connected(s: MailboxSession): void {
    this.#postState(s);
    for (const n of this.store.notices(s.user)) s.post(noticeMessage(n));
    this.#receivers.set(s, { after: 0, drains: new Map(), exhausted: false });
    this.pump(s);
  }

  #postState(s: MailboxSession): void {
    const st = this.store.prekeyState(s.user);
    const signedPub = st.signed ? decodeSignedKey(st.signed).sessionPub : new Uint8Array(32);
    s.post({ t: "prekeyState", oneTime: Math.min(st.oneTime, 0xffff), signedPub, retention: Math.floor(this.opts.retentionMs / 1000) });
  }

  publishPrekeys(s: MailboxSession, m: MessageOf<"publishPrekeys">): void {
    const own = s.sessionKey!.identityPub;
    // Only the relay's filter against garbage and against another identity's keys: the
    // senders check the same signatures against their pins (SPEC.md §12.5).
    for (const [kind, k] of [["signed", m.signed] as const, ...m.oneTime.map((k) => ["one-time", k] as const)]) {
      if (!bytesEqual(k.identityPub, own)) throw new ProtocolError("malformed", "a prekey of another identity");
      verifyPrekey(kind, s.user, k, ed25519VerifyNative);
    }
    const r = this.store.setPrekeys(s.user, encodeSignedKey(m.signed), m.replace, m.oneTime.map(encodeSignedKey), MAX_ONE_TIME_STOCK);
    if (r instanceof Promise) this.#later(r.then(() => this.#postState(s)), "mailbox-write-failed");
    else this.#postState(s);
  }

  bundle(s: MailboxSession, m: MessageOf<"getBundle">, active: boolean): void {
    if (!active) return void s.post({ t: "bundle", req: m.req, user: m.user, status: "unknown" });
    const b = this.store.takeBundle(m.user, s.user, this.#now(), ONE_TIME_PER_HOUR);
    if (b instanceof Promise) {
      this.#later(
        b.then((got) => this.#postBundle(s, m, got)),
        "mailbox-read-failed",
        () => s.post({ t: "bundle", req: m.req, user: m.user, status: "unavailable" }),
      );
      return;
    }
    this.#postBundle(s, m, b);
  }

  #postBundle(s: MailboxSession, m: MessageOf<"getBundle">, b: { signed: Uint8Array; oneTime: Uint8Array | undefined } | undefined): void {
    if (!b) return void s.post({ t: "bundle", req: m.req, user: m.user, status: "none" });
    const signed = decodeSignedKey(b.signed);
    s.post(b.oneTime ? { t: "bundle", req: m.req, user: m.user, status: "ok", signed, oneTime: decodeSignedKey(b.oneTime) } : { t: "bundle", req: m.req, user: m.user, status: "ok", signed });
  }

  /** POST after the checks it shares with SEND: quota, then an upload. */
  post(s: MailboxSession, m: MessageOf<"post">, active: boolean): FailReason | undefined {
    const key = idHex(m.id);
    let ups = this.#uploads.get(s);
    if (ups?.has(key) || (ups?.size ?? 0) >= MAX_UPLOADS_PER_SESSION) return "busy";
    if (!active) return "unknown-user";
    let pending = 0;
    for (const map of this.#uploads.values()) for (const u of map.values()) if (u.to === m.to) pending += u.size;
    if (this.store.bytesFor(m.to) + pending + m.size > this.opts.quotaBytes) {
      this.#log.info("mailbox-over-quota", { from: s.user, to: m.to });
      return "over-quota";
    }
    let upload: Upload;
    try {
      upload = this.store.upload();
    } catch (e) {
      this.#log.error("mailbox-write-failed", { err: errText(e) });
      return "relay-full";
    }
    const deliver = encodeMessage({
      t: "deliver",
      id: m.id,
      from: s.user,
      size: m.size,
      senderKey: m.senderKey,
      recipientSessionPub: m.recipientSessionPub,
      enc: m.enc,
      kemCiphertext: m.kemCiphertext,
    });
    if (!ups) this.#uploads.set(s, (ups = new Map()));
    ups.set(key, { upload, id: m.id, to: m.to, size: m.size, received: 0, nextSeq: 0, limit: WINDOW_CHUNKS, deliver });
    return undefined;
  }

  /** A CHUNK of an upload; false when s has no upload of that id. */
  chunk(s: MailboxSession, m: MessageOf<"chunk">): boolean {
    const ups = this.#uploads.get(s);
    const key = idHex(m.id);
    const u = ups?.get(key);
    if (!ups || !u) return false;
    if (m.seq !== u.nextSeq) throw new ProtocolError("malformed", "chunk out of order");
    if (m.seq >= u.limit) {
      s.fail("window", "chunk beyond the window");
      return true;
    }
    u.received += m.data.length;
    if (u.received > u.size || (m.last && u.received !== u.size)) throw new ProtocolError("malformed", "chunk sizes do not add up to the announced size");
    u.nextSeq++;
    const fail = (e: unknown): void => {
      ups.delete(key);
      u.upload.discard();
      this.#log.error("mailbox-write-failed", { from: s.user, to: u.to, err: errText(e) });
      s.post({ t: "sendFailed", id: m.id, reason: "relay-full" });
    };
    try {
      u.upload.write(m.data);
    } catch (e) {
      return fail(e), true;
    }
    if (!m.last) {
      if (u.nextSeq % 16 === 0) {
        u.limit = u.nextSeq + UPLOAD_WINDOW;
        s.post({ t: "window", id: m.id, seq: u.nextSeq, limit: u.limit });
      }
      return true;
    }
    let body: Body;
    try {
      body = u.upload.finish();
    } catch (e) {
      return fail(e), true;
    }
    ups.delete(key);
    this.#toHold.push({ s, u, body, created: this.#now() });
    this.#flushSoon();
    return true;
  }

  /**
   * Uploads that finished in this turn get one transaction and one folder sync between them,
   * and ACKs one transaction: HELD still follows only what is durable (SPEC.md §12.3).
   */
  #flushSoon(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => {
      this.#flushing = false;
      this.#flushHeld();
      this.#flushAnswered();
    });
  }

  #flushHeld(): void {
    const batch = this.#toHold.splice(0);
    if (batch.length === 0) return;
    const failed = (e: unknown): void => {
      this.#log.error("mailbox-write-failed", { err: errText(e) });
      for (const { s, u } of batch) {
        u.upload.discard();
        s.post({ t: "sendFailed", id: u.id, reason: "relay-full" });
      }
    };
    let r: void | Promise<void>;
    try {
      r = this.store.hold(batch.map(({ s, u, body, created }) => ({ body, mail: { recipient: u.to, sender: s.user, id: u.id, size: u.size, deliver: u.deliver, created } })));
    } catch (e) {
      return failed(e);
    }
    if (r instanceof Promise) r.then(() => this.#heldDone(batch), failed);
    else this.#heldDone(batch);
  }

  #heldDone(batch: { s: MailboxSession; u: Up }[]): void {
    const recipients = new Set<string>();
    for (const { s, u } of batch) {
      this.#log.info("mail-held", { from: s.user, to: u.to, bytes: u.size });
      s.post({ t: "held", id: u.id });
      recipients.add(u.to);
    }
    // Test hook: SIGKILL once HELD has been handed to the socket (the posting turn's flush).
    if (process.env.SMSG_TEST_CRASH_AT) setTimeout(() => crashPoint("relay-held"), 0);
    for (const user of recipients) {
      const r = this.#find(user);
      const rs = r && this.#receivers.get(r);
      if (r && rs) {
        rs.exhausted = false;
        this.pump(r);
      }
    }
  }

  #flushAnswered(): void {
    const batch = this.#toAnswer.splice(0);
    if (batch.length === 0) return;
    // A store answering later (a cluster's) tells the sender's node when the notice is
    // stored there: noticeArrived().
    let later = false;
    try {
      const r = this.store.answered(batch, this.#now());
      if (r instanceof Promise) this.#later(r, "mailbox-write-failed");
      later = r instanceof Promise;
    } catch (e) {
      this.#log.error("mailbox-write-failed", { err: errText(e) });
    }
    const pumped = new Set<MailboxSession>();
    for (const { s, mail, notice } of batch) {
      this.#log.info("mail-delivered", { from: mail.sender, to: s.user, status: notice.status });
      if (!later) this.#find(mail.sender)?.post(noticeMessage(notice));
      pumped.add(s);
    }
    for (const s of pumped) this.pump(s);
  }

  /** ABORT of an upload; false when it is none. */
  abort(s: MailboxSession, id: Uint8Array): boolean {
    const ups = this.#uploads.get(s);
    const u = ups?.get(idHex(id));
    if (!ups || !u) return false;
    ups.delete(idHex(id));
    u.upload.discard();
    return true;
  }

  /** WINDOW or ACK from a recipient for waiting mail; false when it is about none. */
  answer(s: MailboxSession, m: MessageOf<"window" | "ack">): boolean {
    const r = this.#receivers.get(s);
    const key = idHex(m.id);
    const d = r?.drains.get(key);
    if (!r || !d) return false;
    if (m.t === "window") {
      if (m.seq > d.sent || m.limit < m.seq + WINDOW_CHUNKS) throw new ProtocolError("malformed", "window out of range");
      d.limit = Math.max(d.limit, m.limit);
      this.pump(s);
      return true;
    }
    r.drains.delete(key);
    const notice: Notice = { sender: d.mail.sender, recipient: s.user, id: d.mail.id, kind: "receipt", status: m.status, receipt: m.receipt };
    this.#toAnswer.push({ s, mail: d.mail, notice });
    this.#flushSoon();
    // The slot is free now: the next waiting message need not wait for this one's commit
    // (handed out once per connection by its order, an answered one is not fetched again).
    this.pump(s);
    return true;
  }

  noticeDone(s: MailboxSession, m: MessageOf<"noticeDone">): void {
    const r = this.store.removeNotice(s.user, m.to, m.id);
    if (r instanceof Promise) this.#later(r, "mailbox-write-failed");
  }

  /**
   * A notice reached this node's copy of a cluster's mailbox, from whichever node wrote it.
   * An expired one may also be posted by this node's sweep: a second NOTICE is only answered
   * NOTICE_DONE (SPEC.md §12.5).
   */
  noticeArrived(n: Notice): void {
    this.#find(n.sender)?.post(noticeMessage(n));
  }

  /** New mail for user reached this node's copy of a cluster's mailbox. */
  arrived(user: string): void {
    const r = this.#find(user);
    const rs = r && this.#receivers.get(r);
    if (r && rs) {
      rs.exhausted = false;
      this.pump(r);
    }
  }

  #later(p: Promise<unknown>, what: string, onError?: () => void): void {
    p.catch((e) => {
      this.#log.error(what, { err: errText(e) });
      onError?.();
    });
  }

  /** Hand s what waits for it, within the window of each and its output budget. */
  pump(s: MailboxSession): void {
    const r = this.#receivers.get(s);
    if (!r) return;
    if (!r.exhausted && r.drains.size < WAITING_IN_FLIGHT) {
      const want = WAITING_IN_FLIGHT - r.drains.size;
      const list = this.store.waiting(s.user, r.after, want);
      // Nothing more until new mail is held for this user: no query at every write.
      if (list.length < want) r.exhausted = true;
      for (const mail of list) {
        r.after = mail.n;
        const key = idHex(mail.id);
        // The same id live from someone at this moment: it stays waiting until the next connection.
        if (s.incoming.has(key) || r.drains.has(key)) continue;
        const chunks = Math.max(1, Math.ceil(mail.size / CHUNK_BYTES));
        r.drains.set(key, { mail, chunks, sent: 0, limit: WINDOW_CHUNKS });
        s.post(decodeMessage(mail.deliver));
      }
    }
    for (const d of r.drains.values()) {
      while (d.sent < d.chunks && d.sent < d.limit && s.owed < WAITING_OUTPUT_BYTES) {
        const seq = d.sent++;
        let data: Uint8Array;
        try {
          data = this.store.readChunk(d.mail, seq, CHUNK_BYTES);
        } catch (e) {
          this.#log.error("mailbox-read-failed", { to: s.user, err: errText(e) });
          break;
        }
        if (!s.post({ t: "chunk", id: d.mail.id, seq, last: seq === d.chunks - 1, data })) return;
      }
    }
  }

  /** The session is gone: its uploads are discarded, what it was being handed waits on. */
  closed(s: MailboxSession): void {
    for (const u of this.#uploads.get(s)?.values() ?? []) u.upload.discard();
    this.#uploads.delete(s);
    this.#receivers.delete(s);
  }

  /** Retention (SPEC.md §12.4): checked once a minute, or more often for a short retention. */
  sweep(now: number): void {
    if (now - this.#lastExpiry < Math.min(60_000, this.opts.retentionMs / 4)) return;
    this.#lastExpiry = now;
    const done = (n: number): void => {
      if (n > 0) this.#log.info("mail-expired", { count: n });
      // Senders online now learn it at once; the rest when they connect.
      if (n > 0) for (const s of this.#receivers.keys()) for (const x of this.store.notices(s.user)) if (x.kind === "expired") s.post(noticeMessage(x));
    };
    try {
      const n = this.store.expire(now - this.opts.retentionMs, now);
      if (n instanceof Promise) this.#later(n.then(done), "mailbox-expiry-failed");
      else done(n);
    } catch (e) {
      this.#log.error("mailbox-expiry-failed", { err: errText(e) });
    }
  }
}

function noticeMessage(n: Notice): MessageOf<"notice"> {
  return { t: "notice", id: n.id, to: n.recipient, kind: n.kind, status: n.status, receipt: n.receipt };
}

function errText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
}
