// The payloads of routed messages between nodes (SPEC.md §11.2): one message on a user's
// route subject, or a batch of records, each a user and a message, on the node's batch
// subject. A node sends what it routes to one node in one turn of its event loop as one
// batch: each NATS message costs both nodes and nats-server far more than its bytes.

import { Reader, Writer } from "../../protocol/codec.ts";
import { MLKEM768_CT_LENGTH, MLKEM768_EK_LENGTH } from "../../protocol/mlkem.ts";
import { decodeMessage, MSG_ID_LEN, sealedKeyAt, T, type Message, type MessageOf } from "../../protocol/messages.ts";
import { isUserId } from "../../protocol/user-id.ts";

/**
 * DELIVER_REF (SPEC.md §11.2), only between nodes: a DELIVER whose sender's key, 1,320 of its
 * 2,550 bytes, is named by its 64-byte `sig` instead, since the receiving node holds that key
 * from the sending node's presence. About a third of what a 1 KiB message puts through NATS.
 */
export const DELIVER_REF = 0x91;
const TAIL_LEN = 32 + 32 + MLKEM768_CT_LENGTH; // recipientSessionPub, enc, kemCiphertext
const KEY_LEN = 32 + 32 + MLKEM768_EK_LENGTH + 8 + 64; // the sender's key, as §4 encodes it

/** A DELIVER_REF as read: DELIVER's fields but the key's, which the receiving node looks up by `keySig`. */
export interface DeliverRef {
  id: Uint8Array;
  from: string;
  size: number;
  keySig: Uint8Array;
  recipientSessionPub: Uint8Array;
  enc: Uint8Array;
  kemCiphertext: Uint8Array;
  /** The DELIVER's encoding around its key (views into the NATS message): id, from, size; and what follows the key. */
  head: Uint8Array;
  tail: Uint8Array;
}

/** A routed message for a user, as the receiving node reads it: a §4 message, or a DELIVER_REF. */
export type RouteRecord =
  | {
      user: string;
      m: Message;
      /** m's encoding as it came (a view into the NATS message): what a session passes on unchanged. */
      bytes: Uint8Array;
    }
  | { user: string; ref: DeliverRef };

/** DELIVER_REF of m: u8 0x91 || DELIVER's fields (SPEC.md §4) with `senderKey` replaced by its `sig`. */
export function encodeDeliverRef(m: MessageOf<"deliver">): Uint8Array {
  return new Writer()
    .u8(DELIVER_REF)
    .fixed(m.id, MSG_ID_LEN)
    .user(m.from)
    .u64(m.size)
    .fixed(m.senderKey.sig, 64)
    .fixed(m.recipientSessionPub, 32)
    .fixed(m.enc, 32)
    .fixed(m.kemCiphertext, MLKEM768_CT_LENGTH)
    .finish();
}

/**
 * The DELIVER_REF of a DELIVER given as its encoding (a relay's, spliced from the SEND):
 * the same bytes as encodeDeliverRef of its fields, without reading them out.
 */
export function deliverRefFrom(deliver: Uint8Array): Uint8Array {
  const keyAt = sealedKeyAt(deliver);
  if (deliver[0] !== T.deliver || deliver.length !== keyAt + KEY_LEN + TAIL_LEN) throw new Error("not a DELIVER");
  const out = new Uint8Array(deliver.length - (KEY_LEN - 64));
  out[0] = DELIVER_REF;
  out.set(deliver.subarray(1, keyAt), 1);
  out.set(deliver.subarray(keyAt + KEY_LEN - 64), keyAt); // the key's sig, then what follows the key
  return out;
}

function decodeDeliverRef(b: Uint8Array): DeliverRef {
  const r = new Reader(b, 1);
  const id = r.view(MSG_ID_LEN);
  const from = r.user();
  const size = r.u64();
  const headEnd = b.length - TAIL_LEN - 64;
  if (headEnd !== 1 + MSG_ID_LEN + 1 + from.length + 8) throw new Error("a DELIVER_REF of the wrong length");
  const keySig = r.view(64);
  const recipientSessionPub = r.view(32);
  const enc = r.view(32);
  const kemCiphertext = r.view(MLKEM768_CT_LENGTH);
  r.end();
  return { id, from, size, keySig, recipientSessionPub, enc, kemCiphertext, head: b.subarray(1, headEnd), tail: b.subarray(headEnd + 64) };
}

function decodeRecord(user: string, bytes: Uint8Array): RouteRecord {
  if (bytes[0] === DELIVER_REF) return { user, ref: decodeDeliverRef(bytes) };
  return { user, m: decodeMessage(bytes), bytes };
}

/** The DELIVER a DELIVER_REF stands for, given the key its `keySig` names (encodedKey: that key's §4 encoding). */
export function deliverOf(ref: DeliverRef, key: MessageOf<"deliver">["senderKey"], encodedKey: Uint8Array): { m: MessageOf<"deliver">; encoded: Writer } {
  const m: MessageOf<"deliver"> = {
    t: "deliver",
    id: ref.id.slice(), // kept by the transfer: not a view that would keep the whole NATS message
    from: ref.from,
    size: ref.size,
    senderKey: key,
    recipientSessionPub: ref.recipientSessionPub,
    enc: ref.enc,
    kemCiphertext: ref.kemCiphertext,
  };
  return { m, encoded: new Writer().u8(T.deliver).bytes(ref.head).bytes(encodedKey).bytes(ref.tail) };
}

/** The most records in one batch (its count is a u16). */
export const MAX_BATCH_RECORDS = 0xffff;
/** Bytes a record adds to a batch besides its message: u8 user length, the user, u32 length. */
export const recordOverhead = (user: string): number => 1 + user.length + 4;
/** Bytes a batch from node has besides its records: u8 name length, the name, u16 count. */
export const batchOverhead = (node: string): number => 1 + node.length + 2;

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** One message on a user's route subject: u8 n || node name || message (SPEC.md §4). */
export function encodeRouted(node: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + node.length + body.length);
  out[0] = node.length;
  enc.encodeInto(node, out.subarray(1));
  out.set(body, 1 + node.length);
  return out;
}

/**
 * A batch on a node's batch subject: u8 n || node name || u16 count || count records of
 * u8 m || user (m bytes, not escaped) || u32 len || message (len bytes, SPEC.md §4).
 */
export function encodeBatch(node: string, records: readonly { user: string; body: Uint8Array }[]): Uint8Array {
  if (records.length < 1 || records.length > MAX_BATCH_RECORDS) throw new Error(`a batch holds 1..${MAX_BATCH_RECORDS} records, not ${records.length}`);
  let size = batchOverhead(node);
  for (const r of records) size += recordOverhead(r.user) + r.body.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = node.length;
  enc.encodeInto(node, out.subarray(1));
  let at = 1 + node.length;
  view.setUint16(at, records.length);
  at += 2;
  for (const r of records) {
    out[at++] = r.user.length;
    enc.encodeInto(r.user, out.subarray(at));
    at += r.user.length;
    view.setUint32(at, r.body.length);
    at += 4;
    out.set(r.body, at);
    at += r.body.length;
  }
  return out;
}

function sender(data: Uint8Array): { from: string; at: number } {
  const n = data[0];
  if (n === undefined || n < 1 || data.length < 1 + n) throw new Error("a routed message without its node name");
  return { from: dec.decode(data.subarray(1, 1 + n)), at: 1 + n };
}

/** A message from a user's route subject; user is the subject's last token, unescaped. */
export function decodeRouted(user: string, data: Uint8Array): { from: string; records: RouteRecord[] } {
  const { from, at } = sender(data);
  if (!isUserId(user)) throw new Error("a route subject without a user id");
  return { from, records: [decodeRecord(user, data.subarray(at))] };
}

/** A batch from a node's batch subject: every record is checked before any is used. */
export function decodeBatch(data: Uint8Array): { from: string; records: RouteRecord[] } {
  const { from, at: start } = sender(data);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = start;
  if (data.length < at + 2) throw new Error("a batch without its count");
  const count = view.getUint16(at);
  at += 2;
  if (count < 1) throw new Error("an empty batch");
  const records: RouteRecord[] = [];
  for (let i = 0; i < count; i++) {
    const m = data[at];
    if (m === undefined || data.length < at + 1 + m + 4) throw new Error("a batch record cut short");
    const user = dec.decode(data.subarray(at + 1, at + 1 + m));
    if (!isUserId(user)) throw new Error("a batch record without a user id");
    at += 1 + m;
    const len = view.getUint32(at);
    at += 4;
    if (data.length < at + len) throw new Error("a batch record cut short");
    records.push(decodeRecord(user, data.subarray(at, at + len)));
    at += len;
  }
  if (at !== data.length) throw new Error("trailing bytes after a batch");
  return { from, records };
}
