// Envelope encryption of the client store (CLIENT.md §1.3): every secret is a box under a random
// nonce; each message and attachment has its own random key, wrapped by the store key derived
// from the password. The AADs bind a box to its folder and message id, or attachment id.

import { utf8 } from "../protocol/codec.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { AttachmentMeta } from "../protocol/envelope.ts";
import { aesGcmOpen, aesGcmSeal, randomBytes } from "../protocol/primitives.ts";

export const LABEL_STORE_VERIFIER = "smsg/1 store verifier";
export const LABEL_STORE_WRAP = "smsg/1 store wrap ";
export const LABEL_STORE_HEADER = "smsg/1 store header ";
export const LABEL_STORE_DRAFT = "smsg/1 store draft ";

const NONCE = 12;

/** What a message's header box holds: everything a person wrote but the attachment bytes. */
export interface StoredContent {
  subject: string;
  body: string;
  attachments: AttachmentMeta[];
}

/** box(key, aad, pt) = nonce[12] || AES-256-GCM(key, nonce, aad, pt), the nonce random per box. */
export function sealBox(key: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE);
  const ct = aesGcmSeal(key, nonce, aad, pt);
  const out = new Uint8Array(NONCE + ct.length);
  out.set(nonce);
  out.set(ct, NONCE);
  return out;
}

export function openBox(key: Uint8Array, aad: Uint8Array, box: Uint8Array): Uint8Array {
  if (box.length < NONCE + 16) throw new ProtocolError("malformed", "stored box too short");
  return aesGcmOpen(key, box.subarray(0, NONCE), aad, box.subarray(NONCE));
}

/** The store key and what it seals: the verifier, and the wrapped per-message and per-attachment keys. */
export class StoreKeys {
  readonly #key: Uint8Array;

  constructor(storeKey: Uint8Array) {
    this.#key = storeKey;
  }

  /** A new store's `meta.verifier`: 32 zero bytes boxed under the store key. */
  newVerifier(): Uint8Array {
    return sealBox(this.#key, utf8(LABEL_STORE_VERIFIER), new Uint8Array(32));
  }

  /** Does the store key open the verifier? If not, it is a wrong password. */
  opensVerifier(verifier: Uint8Array): boolean {
    try {
      openBox(this.#key, utf8(LABEL_STORE_VERIFIER), verifier);
      return true;
    } catch {
      return false;
    }
  }

  /** An attachment's key, wrapped for `attachments.wrapped_key`. */
  wrapAttachmentKey(att: string, key: Uint8Array): Uint8Array {
    return this.#wrap("attachment", att, key);
  }

  unwrapAttachmentKey(att: string, wrapped: Uint8Array): Uint8Array {
    return openBox(this.#key, this.#wrapAad("attachment", att), wrapped);
  }

  /** A prekey's two secrets (X25519 || ML-KEM seed), wrapped for `prekeys.wrapped` (SPEC.md §12.1). */
  wrapPrekey(pubHex: string, secrets: Uint8Array): Uint8Array {
    return this.#wrap("prekey", pubHex, secrets);
  }

  unwrapPrekey(pubHex: string, wrapped: Uint8Array): Uint8Array {
    return openBox(this.#key, this.#wrapAad("prekey", pubHex), wrapped);
  }

  /** A message's content under a fresh key: the row's `wrapped_key` and `header` boxes. */
  sealContent(folder: "in" | "out", id: string, content: StoredContent): { wrapped: Uint8Array; header: Uint8Array } {
    const key = randomBytes(32);
    const header = sealBox(key, utf8(`${LABEL_STORE_HEADER}${folder} ${id}`), utf8(JSON.stringify(content)));
    return { wrapped: this.#wrap(`message ${folder}`, id, key), header };
  }

  openContent(folder: "in" | "out", id: string, wrapped: Uint8Array, header: Uint8Array): StoredContent {
    const key = openBox(this.#key, this.#wrapAad(`message ${folder}`, id), wrapped);
    const json = openBox(key, utf8(`${LABEL_STORE_HEADER}${folder} ${id}`), header);
    return JSON.parse(new TextDecoder().decode(json)) as StoredContent;
  }

  /**
   * A wrapped key (a message's or an attachment's) opened with this store key and wrapped
   * again under `target`'s: a password change moves the wrapping, never the content.
   * kind is "attachment" or "message in" / "message out" as the row's AAD names it.
   */
  rewrap(target: StoreKeys, kind: string, id: string, wrapped: Uint8Array): Uint8Array {
    const key = openBox(this.#key, this.#wrapAad(kind, id), wrapped);
    const out = target.#wrap(kind, id, key);
    key.fill(0);
    return out;
  }

  /** A draft's content (DraftContent as JSON) under a fresh key: the row's `wrapped_key` and `box`. */
  sealDraft(id: string, content: unknown): { wrapped: Uint8Array; box: Uint8Array } {
    const key = randomBytes(32);
    const box = sealBox(key, utf8(`${LABEL_STORE_DRAFT}${id}`), utf8(JSON.stringify(content)));
    return { wrapped: this.#wrap("draft", id, key), box };
  }

  openDraft<T>(id: string, wrapped: Uint8Array, box: Uint8Array): T {
    const key = openBox(this.#key, this.#wrapAad("draft", id), wrapped);
    return JSON.parse(new TextDecoder().decode(openBox(key, utf8(`${LABEL_STORE_DRAFT}${id}`), box))) as T;
  }

  #wrap(kind: string, id: string, key: Uint8Array): Uint8Array {
    return sealBox(this.#key, this.#wrapAad(kind, id), key);
  }

  #wrapAad(kind: string, id: string): Uint8Array {
    return utf8(`${LABEL_STORE_WRAP}${kind} ${id}`);
  }
}
