// The end-to-end message (SPEC.md §5): HPKE mode_auth_psk to the recipient's hybrid session
// key (X25519 in the DHKEM, the ML-KEM-768 shared secret as the PSK, its ciphertext as
// psk_id), the exporter keying a STREAM over "u32 header length | header JSON | attachment bytes".
// Everything a person wrote (subject, body, names, contents) is inside; the relay routes
// on the outer SEND fields only.

import { Writer, utf8 } from "./codec.ts";
import { parseStrictJson } from "./strict-json.ts";
import { ProtocolError } from "./errors.ts";
import { setupAuthPSKR, setupAuthPSKS } from "./hpke.ts";
import { MLKEM768_CT_LENGTH, mlkemEncaps, type MlkemEncapsulation } from "./mlkem.ts";
import { STREAM_CHUNK } from "./stream.ts";
import { isUserId } from "./user-id.ts";
import { checkLength, hmacSha256 } from "./primitives.ts";

export const LABEL_MESSAGE_INFO = "smsg/1 message";
export const LABEL_STREAM_KEY = "smsg/1 stream key";
export const LABEL_RECEIPT_KEY = "smsg/1 receipt key";
export const LABEL_RECEIPT = "smsg/1 receipt";
export const ENVELOPE_VERSION = 1;
export const MAX_HEADER_BYTES = 4 * 1024 * 1024;
export const MAX_ATTACHMENTS = 256;
export const MAX_NAME_BYTES = 255;
export const MAX_SUBJECT_CHARS = 1000;

export interface AttachmentMeta {
  name: string;
  size: number;
}

export interface EnvelopeHeader {
  v: number;
  id: string; // 32 hex digits, equal to the wire message id
  from: string;
  to: string[]; // every recipient of the message, not just this one
  date: number; // ms since the epoch, as the sender's clock says
  subject: string;
  body: string;
  attachments: AttachmentMeta[];
}

/** HPKE info: binds the id, sender and recipient so the relay cannot re-route a message. */
export function messageInfo(id: Uint8Array, from: string, to: string): Uint8Array {
  return new Writer().bytes(utf8(LABEL_MESSAGE_INFO)).u8(0).fixed(id, 16).str8(from).str8(to).finish();
}

/** ML-KEM.Encaps to the recipient's session key; vectors pass one with a fixed m. */
export type KemEncapsulate = (encapsulationKey: Uint8Array) => Promise<MlkemEncapsulation> | MlkemEncapsulation;

/** The recipient's half of its session ML-KEM-768 key: decapsulates and nothing else. */
export interface KemDecapsulator {
  decapsulate(ciphertext: Uint8Array): Promise<Uint8Array>;
}

export type EnvelopeKeys = { streamKey: Uint8Array; receiptKey: Uint8Array };

function exportKeys(ctx: { export(context: Uint8Array, length: number): Uint8Array }): EnvelopeKeys {
  return { streamKey: ctx.export(utf8(LABEL_STREAM_KEY), 32), receiptKey: ctx.export(utf8(LABEL_RECEIPT_KEY), 32) };
}

/**
 * SPEC.md §5.2 on the sender's side: ML-KEM.Encaps to the recipient's sessionKemPub, then
 * SetupAuthPSKS(pkR = recipientSessionPub, info, psk = the ML-KEM shared secret, psk_id =
 * its ciphertext, skS = our session secret). The DHKEM's auth mode still authenticates
 * the sender's session key as before; the PSK makes the keys need the ML-KEM secret too.
 */
export async function sealEnvelopeKey(args: {
  id: Uint8Array;
  from: string;
  to: string;
  senderSessionSecret: Uint8Array;
  recipientSessionPub: Uint8Array;
  recipientSessionKemPub: Uint8Array;
  rand?: (n: number) => Uint8Array;
  encapsulate?: KemEncapsulate;
}): Promise<EnvelopeKeys & { enc: Uint8Array; kemCiphertext: Uint8Array }> {
  // Both public keys' lengths before any crypto (the encapsulation checks its own key).
  checkLength(args.recipientSessionPub, 32, "HPKE recipient public key");
  const info = messageInfo(args.id, args.from, args.to);
  const kem = await (args.encapsulate ?? mlkemEncaps)(args.recipientSessionKemPub);
  try {
    const { enc, ctx } = setupAuthPSKS(
      args.recipientSessionPub,
      info,
      kem.sharedSecret,
      kem.ciphertext,
      args.senderSessionSecret,
      args.rand ? { rand: args.rand } : undefined,
    );
    return { enc, kemCiphertext: kem.ciphertext, ...exportKeys(ctx) };
  } finally {
    kem.sharedSecret.fill(0);
  }
}

/**
 * SPEC.md §5.2 on the recipient's side: ML-KEM.Decaps of kemCiphertext with our session
 * key, then SetupAuthPSKR. A ciphertext that does not decapsulate to the sender's secret
 * is not refused here (FIPS 203's implicit rejection gives another secret): the keys come
 * out wrong and the first STREAM chunk fails with bad-tag, like any other tampering.
 */
export async function openEnvelopeKey(args: {
  id: Uint8Array;
  from: string;
  to: string;
  enc: Uint8Array;
  kemCiphertext: Uint8Array;
  recipientSessionSecret: Uint8Array;
  recipientSessionKem: KemDecapsulator;
  senderSessionPub: Uint8Array;
}): Promise<EnvelopeKeys> {
  // Lengths first, before either secret is used.
  checkLength(args.enc, 32, "HPKE enc");
  checkLength(args.kemCiphertext, MLKEM768_CT_LENGTH, "ML-KEM-768 ciphertext");
  checkLength(args.senderSessionPub, 32, "HPKE sender public key");
  const info = messageInfo(args.id, args.from, args.to);
  const psk = await args.recipientSessionKem.decapsulate(args.kemCiphertext);
  try {
    return exportKeys(setupAuthPSKR(args.enc, args.recipientSessionSecret, info, psk, args.kemCiphertext, args.senderSessionPub));
  } finally {
    psk.fill(0);
  }
}

/**
 * The delivery receipt (SPEC.md §6.4): only the recipient, who opened the HPKE context,
 * can compute it, so a relay cannot fake "stored" and make a lost message look delivered.
 */
export function receiptFor(receiptKey: Uint8Array, id: Uint8Array): Uint8Array {
  return hmacSha256(receiptKey, new Writer().bytes(utf8(LABEL_RECEIPT)).u8(0).fixed(id, 16).finish());
}

export function validateName(name: string): string {
  const bytes = utf8(name).length;
  if (
    bytes === 0 ||
    bytes > MAX_NAME_BYTES ||
    name === "." ||
    name === ".." ||
    !name.isWellFormed() || // lone surrogates
    /[\u0000-\u001f\u007f-\u009f/\\\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/.test(name) // C0/C1, bidi overrides: "exe.txt" spoofing
  ) {
    throw new ProtocolError("malformed", "attachment name must be 1-255 bytes without / \\, control or bidi characters");
  }
  return name;
}

/** Characters as people count them (code points), not UTF-16 units: an emoji is one. */
export function subjectLength(subject: string): number {
  let n = 0;
  for (const _ of subject) n++;
  return n;
}

export function encodeHeader(h: EnvelopeHeader): Uint8Array {
  const json = utf8(JSON.stringify(h));
  if (json.length > MAX_HEADER_BYTES) throw new ProtocolError("too-large", "message header over 4 MiB");
  return new Writer().u32(json.length).bytes(json).finish();
}

/** Parse and check a header; the caller checks id/from/to against the outer fields. */
export function parseHeader(json: Uint8Array): EnvelopeHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(json);
  } catch {
    throw new ProtocolError("malformed", "header is not UTF-8");
  }
  const h = parseStrictJson(text);
  const o = h as Record<string, unknown>;
  const ok =
    typeof o === "object" &&
    o !== null &&
    o.v === ENVELOPE_VERSION &&
    typeof o.id === "string" &&
    /^[0-9a-f]{32}$/.test(o.id) &&
    typeof o.from === "string" &&
    isUserId(o.from) &&
    Array.isArray(o.to) &&
    o.to.length > 0 &&
    o.to.every((u) => typeof u === "string" && isUserId(u)) &&
    Number.isSafeInteger(o.date) &&
    typeof o.subject === "string" &&
    subjectLength(o.subject) <= MAX_SUBJECT_CHARS &&
    typeof o.body === "string" &&
    Array.isArray(o.attachments) &&
    o.attachments.length <= MAX_ATTACHMENTS;
  if (!ok) throw new ProtocolError("malformed", "header fields");
  const attachments = (o.attachments as unknown[]).map((a) => {
    const x = a as Record<string, unknown>;
    if (typeof x !== "object" || x === null || typeof x.name !== "string" || !Number.isSafeInteger(x.size) || (x.size as number) < 0) {
      throw new ProtocolError("malformed", "attachment entry");
    }
    return { name: validateName(x.name), size: x.size as number };
  });
  return {
    v: ENVELOPE_VERSION,
    id: o.id as string,
    from: o.from as string,
    to: o.to as string[],
    date: o.date as number,
    subject: o.subject as string,
    body: o.body as string,
    attachments,
  };
}

/** Plaintext bytes of a STREAM whose ciphertext is ctSize bytes, or -1 if no such size. */
export function streamPlaintextSize(ctSize: number): number {
  const full = STREAM_CHUNK + 16;
  if (ctSize < 16) return -1;
  const chunks = Math.max(1, Math.ceil(ctSize / full));
  const pt = ctSize - 16 * chunks;
  // The last chunk may be short but not empty unless it is the only one.
  if (pt < 0 || (chunks > 1 && ctSize - (chunks - 1) * full <= 16)) return -1;
  return pt;
}
