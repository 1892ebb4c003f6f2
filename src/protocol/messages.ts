// The messages carried in transport records after the handshake (SPEC.md §4), and the
// handshake payloads (SPEC.md §3). One byte of type, then fixed fields in a fixed order.
// decodeMessage rejects unknown types, short bodies and trailing bytes alike.

import { Pieces, Reader, Writer } from "./codec.ts";
import { ProtocolError } from "./errors.ts";
import { bytesEqualAt, toHex } from "./bytes.ts";
import { IDENTITY_CHANGE_LEN, MAX_CHANGES, decodeIdentityChange, encodeIdentityChange, type IdentityChange } from "./identity-change.ts";
import { MLKEM768_CT_LENGTH, MLKEM768_EK_LENGTH } from "./mlkem.ts";

export const MSG_ID_LEN = 16;
export const RECEIPT_LEN = 32;
/**
 * The base window (SPEC.md §6.3): chunks a sender may always have in flight beyond the last
 * WINDOW's `seq`, and the least a WINDOW's `limit` may grant. Credit beyond it is the
 * recipient's to grant and the relay's to cap.
 */
export const WINDOW_CHUNKS = 16;

/** A message id as text: the key of its transfer, delivery and row at every end (§1.4). */
export function idHex(id: Uint8Array): string {
  if (id.length !== MSG_ID_LEN) throw new ProtocolError("malformed", "message id length");
  return toHex(id);
}

export const T = {
  heartbeat: 0x00,
  loginResult: 0x01,
  publishKey: 0x02,
  who: 0x03,
  whoReply: 0x04,
  watch: 0x05,
  presence: 0x06,
  getKey: 0x07,
  key: 0x08,
  send: 0x10,
  deliver: 0x11,
  chunk: 0x12,
  ack: 0x13,
  window: 0x14,
  sendFailed: 0x15,
  abort: 0x16,
  error: 0x17,
  batch: 0x18,
  // A password change (SPEC.md §4, §5.5): the new login key and the old identity's statement.
  changeCode: 0x20,
  changeResult: 0x21,
  getChanges: 0x22,
  changes: 0x23,
  // Mail that waits at the relay (SPEC.md §12).
  publishPrekeys: 0x30,
  prekeyState: 0x31,
  getBundle: 0x32,
  bundle: 0x33,
  post: 0x34,
  held: 0x35,
  notice: 0x36,
  noticeDone: 0x37,
} as const;

/** One-time prekeys in one PUBLISH_PREKEYS: 1 + 1320 + 2 + 40 × 1320 bytes fit a record. */
export const MAX_PREKEYS_PER_MESSAGE = 40;

/** A hybrid session key announcement, signed by the user's identity key (SPEC.md §5.1). */
export interface SignedSessionKey {
  identityPub: Uint8Array; // Ed25519, 32
  sessionPub: Uint8Array; // X25519, 32
  sessionKemPub: Uint8Array; // ML-KEM-768 encapsulation key, 1184
  issuedAt: number; // ms since the epoch
  sig: Uint8Array; // Ed25519, 64
}

export type LoginStatus = "ok" | "auth-failed" | "rate-limited" | "disabled" | "busy";
const LOGIN_STATUS: LoginStatus[] = ["ok", "auth-failed", "rate-limited", "disabled", "busy"];

export type KeyStatus = "online" | "offline" | "unknown";
const KEY_STATUS: KeyStatus[] = ["online", "offline", "unknown"];

export type AckStatus = "stored" | "duplicate" | "identity-changed" | "rejected";
const ACK_STATUS: AckStatus[] = ["stored", "duplicate", "identity-changed", "rejected"];

export type FailReason =
  | "offline"
  | "unknown-user"
  | "too-large"
  | "recipient-gone"
  | "aborted"
  | "busy"
  | "stale-key"
  | "rate-limited"
  | "over-quota"
  | "no-mailbox"
  | "relay-full";
const FAIL_REASON: FailReason[] = [
  "offline",
  "unknown-user",
  "too-large",
  "recipient-gone",
  "aborted",
  "busy",
  "stale-key",
  "rate-limited",
  "over-quota",
  "no-mailbox",
  "relay-full",
];

/** BUNDLE (SPEC.md §12.2): none = no prekeys published; unavailable = no offline mail at this relay. */
export type BundleStatus = "ok" | "unknown" | "none" | "unavailable";
const BUNDLE_STATUS: BundleStatus[] = ["ok", "unknown", "none", "unavailable"];

/** NOTICE (SPEC.md §12.4): the recipient's ACK kept for the sender, or the mail expired unread. */
export type NoticeKind = "receipt" | "expired";
const NOTICE_KIND: NoticeKind[] = ["receipt", "expired"];

export type ErrorCode = "malformed" | "too-large" | "window" | "limit" | "shutdown" | "replaced";
const ERROR_CODE: ErrorCode[] = ["malformed", "too-large", "window", "limit", "shutdown", "replaced"];

export type ChangeStatus = "ok" | "refused" | "rate-limited";
const CHANGE_STATUS: ChangeStatus[] = ["ok", "refused", "rate-limited"];

export type Message =
  | { t: "heartbeat" }
  | { t: "loginResult"; status: LoginStatus; reason: string }
  | { t: "publishKey"; key: SignedSessionKey }
  | { t: "who"; req: number }
  | { t: "whoReply"; req: number; users: string[] }
  | { t: "watch"; all: boolean; users: string[] }
  | { t: "presence"; user: string; online: boolean }
  | { t: "getKey"; req: number; user: string }
  | { t: "key"; req: number; user: string; status: KeyStatus; key?: SignedSessionKey }
  | ({ t: "send"; to: string } & SealedHead)
  | ({ t: "deliver"; from: string } & SealedHead)
  | { t: "chunk"; id: Uint8Array; seq: number; last: boolean; data: Uint8Array }
  /** receipt: HMAC proving the recipient stored it (SPEC.md §6.4); zeros unless stored/duplicate. */
  | { t: "ack"; id: Uint8Array; status: AckStatus; receipt: Uint8Array }
  | { t: "window"; id: Uint8Array; seq: number; limit: number }
  | { t: "sendFailed"; id: Uint8Array; reason: FailReason }
  | { t: "abort"; id: Uint8Array }
  | { t: "error"; code: ErrorCode; reason: string }
  | { t: "changeCode"; req: number; code: Uint8Array; change: IdentityChange }
  | { t: "changeResult"; req: number; status: ChangeStatus; reason: string }
  | { t: "getChanges"; req: number; user: string }
  | { t: "changes"; req: number; user: string; changes: IdentityChange[] }
  | { t: "publishPrekeys"; signed: SignedSessionKey; replace: boolean; oneTime: SignedSessionKey[] }
  | { t: "prekeyState"; oneTime: number; signedPub: Uint8Array; retention: number }
  | { t: "getBundle"; req: number; user: string }
  | { t: "bundle"; req: number; user: string; status: BundleStatus; signed?: SignedSessionKey; oneTime?: SignedSessionKey }
  | ({ t: "post"; to: string } & SealedHead)
  | { t: "held"; id: Uint8Array }
  | { t: "notice"; id: Uint8Array; to: string; kind: NoticeKind; status: AckStatus; receipt: Uint8Array }
  | { t: "noticeDone"; id: Uint8Array; to: string };

/** What SEND, POST and DELIVER carry besides the peer: one layout for all three (SPEC.md §4). */
interface SealedHead {
  id: Uint8Array;
  size: number;
  senderKey: SignedSessionKey;
  /** The recipient's X25519 session key sealed to; in a POST, the X25519 half of the prekey (SPEC.md §12.3). */
  recipientSessionPub: Uint8Array;
  enc: Uint8Array;
  /** The ML-KEM-768 encapsulation to the recipient's sessionKemPub, HPKE's psk_id (SPEC.md §5.2). */
  kemCiphertext: Uint8Array;
}

export type MessageOf<K extends Message["t"]> = Extract<Message, { t: K }>;

function enumIndex<E extends string>(table: E[], v: E): number {
  const i = table.indexOf(v);
  if (i < 0) throw new ProtocolError("malformed", "unknown enum value");
  return i;
}
function enumAt<E extends string>(table: E[], i: number): E {
  const v = table[i];
  if (v === undefined) throw new ProtocolError("malformed", "unknown enum value");
  return v;
}

function writeKey(w: Writer, k: SignedSessionKey): void {
  w.fixed(k.identityPub, 32).fixed(k.sessionPub, 32).fixed(k.sessionKemPub, MLKEM768_EK_LENGTH).u64(k.issuedAt).fixed(k.sig, 64);
}
function readKey(r: Reader, take: (n: number) => Uint8Array = (n) => r.fixed(n)): SignedSessionKey {
  return { identityPub: take(32), sessionPub: take(32), sessionKemPub: take(MLKEM768_EK_LENGTH), issuedAt: r.u64(), sig: take(64) };
}
function writeUsers(w: Writer, users: string[]): void {
  if (users.length > 0xffff) throw new ProtocolError("too-large", "over 65535 users");
  w.u16(users.length);
  for (const u of users) w.user(u);
}
function readUsers(r: Reader): string[] {
  const n = r.u16();
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.user());
  return out;
}

/**
 * A list behind a one-byte count that SPEC.md caps (identity changes, prekeys): a count over
 * the cap is malformed on both sides, so neither end writes or allocates past it.
 */
function writeCounted<X>(w: Writer, items: readonly X[], max: number, what: string, write: (x: X) => void): void {
  if (items.length > max) throw new ProtocolError("malformed", `over ${max} ${what}`);
  w.u8(items.length);
  for (const x of items) write(x);
}
function readCounted<X>(r: Reader, max: number, what: string, read: () => X): X[] {
  const n = r.u8();
  if (n > max) throw new ProtocolError("malformed", `over ${max} ${what}`);
  const out: X[] = [];
  for (let i = 0; i < n; i++) out.push(read());
  return out;
}

/** A `key` field on its own (1320 bytes): how a relay keeps a prekey (SPEC.md §12.3). */
export function encodeSignedKey(k: SignedSessionKey): Uint8Array {
  const w = new Writer();
  writeKey(w, k);
  return w.finish();
}
export function decodeSignedKey(b: Uint8Array): SignedSessionKey {
  const r = new Reader(b);
  const k = readKey(r);
  r.end();
  return k;
}

export function encodeMessage(m: Message): Uint8Array {
  return writeMessage(m).finish();
}

/**
 * A record's plaintext carrying several Messages (SPEC.md §2.3): BATCH (0x18), then for each
 * message `u16 length || message`. Built from writeMessage's writers, joined once (into
 * `into`, when given, field by field: see Pieces).
 */
export function encodeBatchParts(items: readonly Writer[], into?: Uint8Array): { parts: Uint8Array[]; length: number } {
  if (into) {
    const pieces = new Pieces(into).u8(T.batch);
    for (const item of items) item.addTo(pieces.u16(item.length));
    return pieces.done();
  }
  const w = new Writer().u8(T.batch);
  for (const item of items) w.u16(item.length).append(item);
  return w.finishParts();
}

/**
 * The Messages of one transport plaintext, in order: the plaintext itself, or a BATCH's items.
 * A batch needs at least one item; an item may be neither empty nor a batch, and must fit.
 * With `items` (a relay, which passes messages on as they came), each message's bytes are
 * pushed there, and a SEND's byte fields are views into b, not copies (decodeMessage's
 * `inPlace`): the caller copies what it keeps.
 */
export function decodeTransportPlaintext(b: Uint8Array, items?: Uint8Array[]): Message[] {
  const inPlace = items !== undefined;
  if (b.length === 0 || b[0] !== T.batch) {
    const m = decodeMessage(b, inPlace);
    items?.push(b);
    return [m];
  }
  if (b.length === 1) throw new ProtocolError("malformed", "empty batch");
  const out: Message[] = [];
  let off = 1;
  while (off < b.length) {
    if (off + 2 > b.length) throw new ProtocolError("malformed", "batch item length cut short");
    const n = (b[off]! << 8) | b[off + 1]!;
    off += 2;
    if (n === 0 || off + n > b.length) throw new ProtocolError("malformed", "batch item outside the batch");
    const item = b.subarray(off, off + n);
    out.push(decodeMessage(item, inPlace)); // a nested batch is an unknown type here
    items?.push(item);
    off += n;
  }
  return out;
}

/** A `key` field's length (SPEC.md §4): identityPub, sessionPub, sessionKemPub, issuedAt, sig. */
const KEY_LEN = 32 + 32 + MLKEM768_EK_LENGTH + 8 + 64;
const ISSUED_AT = 32 + 32 + MLKEM768_EK_LENGTH; // offset within the key field

/** Where the sender's key starts in a SEND, POST or DELIVER (SPEC.md §4): after type, id, peer and size. */
export function sealedKeyAt(b: Uint8Array): number {
  const peerAt = 1 + MSG_ID_LEN;
  if (b.length <= peerAt) throw new ProtocolError("malformed", "sealed message cut short");
  return peerAt + 1 + b[peerAt]! + 8;
}

/** The key field at `at` in b, as views into b. */
function keyAt(b: Uint8Array, at: number): SignedSessionKey {
  const r = new Reader(b, at);
  return readKey(r, (n) => r.view(n));
}

/**
 * SEND, POST and DELIVER fields from the sender's key on, read from the message's bytes when
 * asked for (views into them): what a relay passes on without reading (SendInPlace).
 */
class SealedFieldsAt {
  constructor(
    protected readonly b: Uint8Array,
    /** Where the sender's key starts in b; what was sealed to follows it. */
    protected readonly keyAt: number,
  ) {}
  get senderKey(): SignedSessionKey {
    return keyAt(this.b, this.keyAt);
  }
  get recipientSessionPub(): Uint8Array {
    const at = this.keyAt + KEY_LEN;
    return this.b.subarray(at, at + 32);
  }
  get enc(): Uint8Array {
    const at = this.keyAt + KEY_LEN + 32;
    return this.b.subarray(at, at + 32);
  }
  get kemCiphertext(): Uint8Array {
    const at = this.keyAt + KEY_LEN + 64;
    return this.b.subarray(at, at + MLKEM768_CT_LENGTH);
  }
}

/**
 * A SEND as a relay decodes it (decodeMessage's `inPlace`), checked as every SEND is: the id
 * (a copy, which the transfer keeps), the recipient and the size read at once, the sender's
 * key and what was sealed left in the SEND's bytes. The relay compares those where they lie
 * (sentWith, sealedTo) and passes them on as they came (deliver): the views made for
 * nothing, and the field-by-field compares, were about 0.3 us of its CPU per message
 * (bench/send-decode.ts). Reading a field still works (a view into the bytes, made then):
 * the SEND is a MessageOf<"send"> like any other.
 */
export class SendInPlace extends SealedFieldsAt {
  readonly t = "send" as const;
  constructor(
    /** The SEND's bytes, a view into the record's plaintext: the caller keeps them no longer than it. */
    readonly bytes: Uint8Array,
    at: number,
    readonly id: Uint8Array,
    readonly to: string,
    readonly size: number,
  ) {
    super(bytes, at);
  }

  /**
   * Whether the SEND names k as its sender's key: k's encoding compared with the key field
   * where it lies, in one compare (five, one per field, cost more than the views they spare).
   */
  sentWith(k: SignedSessionKey): boolean {
    return bytesEqualAt(keyEncoding(k), this.bytes, this.keyAt);
  }

  /** Whether it was sealed to the X25519 session key `pub`. */
  sealedTo(pub: Uint8Array): boolean {
    return bytesEqualAt(pub, this.bytes, this.keyAt + KEY_LEN);
  }

  /**
   * The DELIVER of it from `from` (SPEC.md §6.2), and the message reading its fields from the
   * SEND's bytes: the same fields in the same order, the type byte changed and the recipient
   * replaced by `from`. Spliced, so the relay does not encode again the 2.5 KiB it only passes
   * on: the id is the copy already read, the fields after the size a view into the SEND,
   * copied once, by the record's join.
   */
  deliver(from: string): { m: MessageOf<"deliver">; encoded: Writer } {
    const encoded = new Writer().u8(T.deliver).bytes(this.id).user(from).bytes(this.bytes.subarray(this.keyAt - 8));
    return { m: new DeliverInPlace(this.bytes, this.keyAt, this.id, from, this.size), encoded };
  }
}

/** A DELIVER made from a SendInPlace: its fields read from the SEND's bytes when asked for. */
class DeliverInPlace extends SealedFieldsAt {
  readonly t = "deliver" as const;
  constructor(
    b: Uint8Array,
    at: number,
    readonly id: Uint8Array,
    readonly from: string,
    readonly size: number,
  ) {
    super(b, at);
  }
}

/**
 * A SEND's fields after its type byte, checked as the copying decoder checks them (lengths,
 * the user id, both u64s under 2^53, no trailing bytes) but not taken out.
 */
function readSendInPlace(b: Uint8Array, r: Reader): SendInPlace {
  // A copy however b came (a Buffer's slice would be a view): the transfer keeps the id
  // past the record, and copying 16 bytes here costs less than a view and a copy.
  const idAt = r.skip(MSG_ID_LEN);
  const id = new Uint8Array(MSG_ID_LEN);
  for (let i = 0; i < MSG_ID_LEN; i++) id[i] = b[idAt + i]!;
  const to = r.user();
  const size = r.u64();
  const at = r.skip(ISSUED_AT);
  r.u64(); // issuedAt: read only to refuse what readKey refuses
  r.skip(64 + 32 + 32 + MLKEM768_CT_LENGTH); // sig, recipientSessionPub, enc, kemCiphertext
  return new SendInPlace(b, at, id, to, size);
}

/**
 * A key's §4 encoding, made once per key object: a relay compares every SEND with the key its
 * sender published. Keys are not changed in place (a new PUBLISH_KEY is a new object).
 */
const KEY_ENCODINGS = new WeakMap<SignedSessionKey, Uint8Array>();
export function keyEncoding(k: SignedSessionKey): Uint8Array {
  let e = KEY_ENCODINGS.get(k);
  if (e === undefined) KEY_ENCODINGS.set(k, (e = encodeSignedKey(k)));
  return e;
}

/**
 * A CHUNK whose data comes as pieces written one after another (a STREAM chunk's ciphertext
 * and its tag, as aesGcmSealParts gives them): the same bytes as writeMessage of the joined
 * data, without joining them (the socket's writer joins once).
 */
export function writeChunk(id: Uint8Array, seq: number, last: boolean, data: readonly Uint8Array[]): Writer {
  return writeChunkFields(new Writer().u8(T.chunk), id, seq, last, data);
}

function writeChunkFields(w: Writer, id: Uint8Array, seq: number, last: boolean, data: readonly Uint8Array[]): Writer {
  w.fixed(id, MSG_ID_LEN).u32(seq).u8(last ? 1 : 0);
  for (const d of data) w.bytes(d);
  return w;
}

export function writeMessage(m: Message): Writer {
  const w = new Writer().u8(T[m.t]);
  switch (m.t) {
    case "heartbeat":
      break;
    case "loginResult":
      w.u8(enumIndex(LOGIN_STATUS, m.status)).str16(m.reason);
      break;
    case "publishKey":
      writeKey(w, m.key);
      break;
    case "who":
      w.u32(m.req);
      break;
    case "whoReply":
      w.u32(m.req);
      writeUsers(w, m.users);
      break;
    case "watch":
      w.u8(m.all ? 1 : 0);
      writeUsers(w, m.users);
      break;
    case "presence":
      w.user(m.user).u8(m.online ? 1 : 0);
      break;
    case "getKey":
    case "getChanges":
    case "getBundle":
      w.u32(m.req).user(m.user);
      break;
    case "key":
      w.u32(m.req).user(m.user).u8(enumIndex(KEY_STATUS, m.status));
      if (m.status === "online") {
        if (!m.key) throw new ProtocolError("malformed", "online key without key");
        writeKey(w, m.key);
      }
      break;
    case "send":
    case "post":
    case "deliver":
      w.fixed(m.id, MSG_ID_LEN).user(m.t === "deliver" ? m.from : m.to).u64(m.size);
      writeKey(w, m.senderKey);
      w.fixed(m.recipientSessionPub, 32).fixed(m.enc, 32).fixed(m.kemCiphertext, MLKEM768_CT_LENGTH);
      break;
    case "chunk":
      writeChunkFields(w, m.id, m.seq, m.last, [m.data]);
      break;
    case "ack":
      w.fixed(m.id, MSG_ID_LEN).u8(enumIndex(ACK_STATUS, m.status)).fixed(m.receipt, RECEIPT_LEN);
      break;
    case "window":
      w.fixed(m.id, MSG_ID_LEN).u32(m.seq).u32(m.limit);
      break;
    case "sendFailed":
      w.fixed(m.id, MSG_ID_LEN).u8(enumIndex(FAIL_REASON, m.reason));
      break;
    case "abort":
    case "held":
      w.fixed(m.id, MSG_ID_LEN);
      break;
    case "error":
      w.u8(enumIndex(ERROR_CODE, m.code)).str16(m.reason);
      break;
    case "changeCode":
      w.u32(m.req).fixed(m.code, 32).fixed(encodeIdentityChange(m.change), IDENTITY_CHANGE_LEN);
      break;
    case "changeResult":
      w.u32(m.req).u8(enumIndex(CHANGE_STATUS, m.status)).str16(m.reason);
      break;
    case "changes":
      w.u32(m.req).user(m.user);
      writeCounted(w, m.changes, MAX_CHANGES, "identity changes", (c) => w.fixed(encodeIdentityChange(c), IDENTITY_CHANGE_LEN));
      break;
    case "publishPrekeys":
      writeKey(w, m.signed);
      w.u8(m.replace ? 1 : 0);
      writeCounted(w, m.oneTime, MAX_PREKEYS_PER_MESSAGE, "prekeys", (k) => writeKey(w, k));
      break;
    case "prekeyState":
      w.u16(m.oneTime).fixed(m.signedPub, 32).u32(m.retention);
      break;
    case "bundle":
      w.u32(m.req).user(m.user).u8(enumIndex(BUNDLE_STATUS, m.status));
      if (m.status === "ok") {
        if (!m.signed) throw new ProtocolError("malformed", "bundle without its signed prekey");
        writeKey(w, m.signed);
        w.u8(m.oneTime ? 1 : 0);
        if (m.oneTime) writeKey(w, m.oneTime);
      }
      break;
    case "notice":
      w.fixed(m.id, MSG_ID_LEN).user(m.to).u8(enumIndex(NOTICE_KIND, m.kind)).u8(enumIndex(ACK_STATUS, m.status)).fixed(m.receipt, RECEIPT_LEN);
      break;
    case "noticeDone":
      w.fixed(m.id, MSG_ID_LEN).user(m.to);
      break;
  }
  return w;
}

/**
 * One Message. `inPlace`: a SEND is a SendInPlace, its key and sealed fields left in b, for
 * a relay that checks them where they lie and passes the SEND's bytes on (SendInPlace.deliver):
 * 2.5 KiB copied, or eight views made, per message for nothing. Any other message's fields
 * are copies.
 */
export function decodeMessage(b: Uint8Array, inPlace = false): Message {
  if (b.length === 0) throw new ProtocolError("malformed", "empty message");
  const r = new Reader(b, 1);
  let m: Message;
  switch (b[0]) {
    case T.heartbeat:
      m = { t: "heartbeat" };
      break;
    case T.loginResult:
      m = { t: "loginResult", status: enumAt(LOGIN_STATUS, r.u8()), reason: r.str16() };
      break;
    case T.publishKey:
      m = { t: "publishKey", key: readKey(r) };
      break;
    case T.who:
      m = { t: "who", req: r.u32() };
      break;
    case T.whoReply:
      m = { t: "whoReply", req: r.u32(), users: readUsers(r) };
      break;
    case T.watch:
      m = { t: "watch", all: r.bool(), users: readUsers(r) };
      break;
    case T.presence:
      m = { t: "presence", user: r.user(), online: r.bool() };
      break;
    case T.getKey:
      m = { t: "getKey", req: r.u32(), user: r.user() };
      break;
    case T.key: {
      const req = r.u32();
      const user = r.user();
      const status = enumAt(KEY_STATUS, r.u8());
      m = status === "online" ? { t: "key", req, user, status, key: readKey(r) } : { t: "key", req, user, status };
      break;
    }
    case T.send:
    case T.post:
    case T.deliver: {
      if (inPlace && b[0] === T.send) {
        m = readSendInPlace(b, r);
        break;
      }
      const take = (n: number) => r.fixed(n);
      const id = take(MSG_ID_LEN);
      const peer = r.user();
      const size = r.u64();
      const senderKey = readKey(r, take);
      const recipientSessionPub = take(32);
      const enc = take(32);
      const kemCiphertext = take(MLKEM768_CT_LENGTH);
      m =
        b[0] === T.deliver
          ? { t: "deliver", id, from: peer, size, senderKey, recipientSessionPub, enc, kemCiphertext }
          : { t: b[0] === T.send ? "send" : "post", id, to: peer, size, senderKey, recipientSessionPub, enc, kemCiphertext };
      break;
    }
    case T.chunk:
      m = { t: "chunk", id: r.fixed(MSG_ID_LEN), seq: r.u32(), last: r.bool(), data: r.rest() };
      break;
    case T.ack:
      m = { t: "ack", id: r.fixed(MSG_ID_LEN), status: enumAt(ACK_STATUS, r.u8()), receipt: r.fixed(RECEIPT_LEN) };
      break;
    case T.window:
      m = { t: "window", id: r.fixed(MSG_ID_LEN), seq: r.u32(), limit: r.u32() };
      break;
    case T.sendFailed:
      m = { t: "sendFailed", id: r.fixed(MSG_ID_LEN), reason: enumAt(FAIL_REASON, r.u8()) };
      break;
    case T.abort:
      m = { t: "abort", id: r.fixed(MSG_ID_LEN) };
      break;
    case T.error:
      m = { t: "error", code: enumAt(ERROR_CODE, r.u8()), reason: r.str16() };
      break;
    case T.changeCode:
      m = { t: "changeCode", req: r.u32(), code: r.fixed(32), change: decodeIdentityChange(r.fixed(IDENTITY_CHANGE_LEN)) };
      break;
    case T.changeResult:
      m = { t: "changeResult", req: r.u32(), status: enumAt(CHANGE_STATUS, r.u8()), reason: r.str16() };
      break;
    case T.getChanges:
      m = { t: "getChanges", req: r.u32(), user: r.user() };
      break;
    case T.changes: {
      const req = r.u32();
      const user = r.user();
      const changes = readCounted(r, MAX_CHANGES, "identity changes", () => decodeIdentityChange(r.fixed(IDENTITY_CHANGE_LEN)));
      m = { t: "changes", req, user, changes };
      break;
    }
    case T.publishPrekeys: {
      const signed = readKey(r);
      const replace = r.bool();
      const oneTime = readCounted(r, MAX_PREKEYS_PER_MESSAGE, "prekeys", () => readKey(r));
      m = { t: "publishPrekeys", signed, replace, oneTime };
      break;
    }
    case T.prekeyState:
      m = { t: "prekeyState", oneTime: r.u16(), signedPub: r.fixed(32), retention: r.u32() };
      break;
    case T.getBundle:
      m = { t: "getBundle", req: r.u32(), user: r.user() };
      break;
    case T.bundle: {
      const req = r.u32();
      const user = r.user();
      const status = enumAt(BUNDLE_STATUS, r.u8());
      if (status !== "ok") m = { t: "bundle", req, user, status };
      else {
        const signed = readKey(r);
        m = r.bool() ? { t: "bundle", req, user, status, signed, oneTime: readKey(r) } : { t: "bundle", req, user, status, signed };
      }
      break;
    }
    case T.held:
      m = { t: "held", id: r.fixed(MSG_ID_LEN) };
      break;
    case T.notice:
      m = { t: "notice", id: r.fixed(MSG_ID_LEN), to: r.user(), kind: enumAt(NOTICE_KIND, r.u8()), status: enumAt(ACK_STATUS, r.u8()), receipt: r.fixed(RECEIPT_LEN) };
      break;
    case T.noticeDone:
      m = { t: "noticeDone", id: r.fixed(MSG_ID_LEN), to: r.user() };
      break;
    default:
      throw new ProtocolError("malformed", `unknown message type ${b[0]}`);
  }
  r.end();
  return m;
}

/** Relay hello, the payload of Noise message 2 (SPEC.md §3). */
export interface RelayHello {
  version: number;
  maxMessageBytes: number; // largest STREAM ciphertext a SEND may announce
  heartbeatTimeout: number; // seconds of silence after which the relay closes
}

export function encodeRelayHello(h: RelayHello): Uint8Array {
  return new Writer().u8(h.version).u64(h.maxMessageBytes).u32(h.heartbeatTimeout).finish();
}
export function decodeRelayHello(b: Uint8Array): RelayHello {
  const r = new Reader(b);
  const h = { version: r.u8(), maxMessageBytes: r.u64(), heartbeatTimeout: r.u32() };
  r.end();
  return h;
}

export const INVITE_LEN = 32;

/**
 * Login, the payload of Noise message 3 (SPEC.md §3.1): the user id, then optionally an
 * invite token of exactly 32 bytes. Any other length after the user id is malformed.
 */
export function encodeLogin(user: string, invite?: Uint8Array): Uint8Array {
  const w = new Writer().user(user);
  if (invite !== undefined) w.fixed(invite, INVITE_LEN);
  return w.finish();
}
export function decodeLogin(b: Uint8Array): { user: string; invite?: Uint8Array } {
  const r = new Reader(b);
  const user = r.user();
  const rest = r.rest();
  if (rest.length === 0) return { user };
  if (rest.length !== INVITE_LEN) throw new ProtocolError("malformed", "login payload: trailing bytes are not an invite");
  return { user, invite: rest };
}
