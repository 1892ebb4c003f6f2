// smsg key derivation (password -> Argon2id -> HKDF -> login, identity and store keys),
// the printable bech32m forms of public keys, signed session-key announcements and
// safety numbers. Implements SPEC.md "Keys".

import { bech32m } from "@scure/base";
import { ProtocolError } from "./errors.ts";
import { utf8 } from "./codec.ts";
import {
  argon2id,
  checkLength,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hkdfExpand,
  hkdfExtract,
  sha512,
  x25519PublicKey,
} from "./primitives.ts";
import type { Argon2Params, KeyPair } from "./primitives.ts";
import { MLKEM768_EK_LENGTH } from "./mlkem.ts";

/** RFC 9106 §4, second recommended option: 64 MiB, t = 3, p = 1, 32-byte tag. */
export const ARGON2_PARAMS: Argon2Params = { memoryKiB: 65536, passes: 3, parallelism: 1, tagLength: 32 };

// Domain-separation labels, spelled exactly as in SPEC.md.
export const LABEL_ARGON2_SALT = "smsg/1 argon2id salt ";
export const LABEL_LOGIN_KEY = "smsg/1 login key";
export const LABEL_IDENTITY_KEY = "smsg/1 identity key";
export const LABEL_STORE_KEY = "smsg/1 store key";
/** "smsg/2": the hybrid announcement (X25519 and ML-KEM-768, SPEC.md §5.1); a signature over the
 * classical "smsg/1 session key" layout can never verify as one of these. */
export const LABEL_SESSION_KEY = "smsg/2 session key";
export const LABEL_SAFETY_NUMBER = "smsg/1 safety number";

export const REGISTRATION_CODE_HRP = "smsg";
export const RELAY_KEY_HRP = "smsgrelay";
export const INVITE_HRP = "smsginvite";

export type UserKeys = {
  /** X25519, the Noise static key the relay knows the user by. */
  login: KeyPair;
  /** Ed25519, signs session-key announcements. */
  identity: { seed: Uint8Array; publicKey: Uint8Array };
  /** Wraps the keys of the client's local store. */
  storeKey: Uint8Array;
};


/** A user name as bytes: 1..255 UTF-8 bytes, so one length byte frames it everywhere. */
function userBytes(user: string): Uint8Array {
  const bytes = utf8(user);
  if (bytes.length < 1 || bytes.length > 255) throw new ProtocolError("malformed", "user name must be 1..255 bytes");
  return bytes;
}

export async function deriveUserKeys(
  user: string,
  password: string,
  opts: { argon2?: typeof argon2id; params?: Argon2Params } = {},
): Promise<UserKeys> {
  const salt = new Uint8Array([...utf8(LABEL_ARGON2_SALT), ...userBytes(user)]);
  // NFC so the same password typed on systems that compose differently gives the same keys.
  const passwordBytes = utf8(password.normalize("NFC"));
  const master = await (opts.argon2 ?? argon2id)(passwordBytes, salt, opts.params ?? ARGON2_PARAMS);
  passwordBytes.fill(0);
  if (master.length < 32) throw new ProtocolError("malformed", "Argon2id tag shorter than 32 bytes");
  // One master secret, independent keys: HKDF (Extract with the default all-zero salt, then
  // Expand) with a distinct label per use (SPEC.md §3.2).
  const prk = hkdfExtract(new Uint8Array(0), master);
  const derive = (label: string) => hkdfExpand(prk, utf8(label), 32);
  const loginSecret = derive(LABEL_LOGIN_KEY);
  const identitySeed = derive(LABEL_IDENTITY_KEY);
  const storeKey = derive(LABEL_STORE_KEY);
  master.fill(0);
  prk.fill(0);
  return {
    login: { secretKey: loginSecret, publicKey: x25519PublicKey(loginSecret) },
    identity: { seed: identitySeed, publicKey: ed25519PublicKey(identitySeed) },
    storeKey,
  };
}

function encodeKey(hrp: string, publicKey: Uint8Array): string {
  checkLength(publicKey, 32, "public key");
  return bech32m.encode(hrp, bech32m.toWords(publicKey));
}

function decodeKey(hrp: string, text: string): Uint8Array {
  // bech32m accepts all-lowercase or all-uppercase and rejects mixed case (BIP 173);
  // we do not fold case ourselves, so a single changed letter can never pass.
  let decoded: { prefix: string; words: number[] };
  try {
    decoded = bech32m.decode(text.trim() as `${string}1${string}`);
  } catch {
    throw new ProtocolError("bad-code", "not a valid bech32m code");
  }
  if (decoded.prefix !== hrp) throw new ProtocolError("bad-code", `code does not start with ${hrp}1`);
  // fromWordsUnsafe refuses non-zero padding bits, so each key has one encoding only.
  const bytes = bech32m.fromWordsUnsafe(decoded.words);
  if (!bytes || bytes.length !== 32) throw new ProtocolError("bad-code", "code does not hold a 32-byte key");
  return bytes;
}

/** The login public key as "smsg1..." for the operator to approve a registration. */
export function encodeRegistrationCode(loginPublicKey: Uint8Array): string {
  return encodeKey(REGISTRATION_CODE_HRP, loginPublicKey);
}

export function decodeRegistrationCode(code: string): Uint8Array {
  return decodeKey(REGISTRATION_CODE_HRP, code);
}

/** The relay's Noise static public key as "smsgrelay1...", pinned by clients. */
export function encodeRelayKey(relayPublicKey: Uint8Array): string {
  return encodeKey(RELAY_KEY_HRP, relayPublicKey);
}

export function decodeRelayKey(text: string): Uint8Array {
  return decodeKey(RELAY_KEY_HRP, text);
}

/** A one-time invite (SPEC.md §3.3) as "smsginvite1...": 32 random bytes, not a key. */
export function encodeInvite(token: Uint8Array): string {
  return encodeKey(INVITE_HRP, token);
}

export function decodeInvite(text: string): Uint8Array {
  return decodeKey(INVITE_HRP, text);
}

/**
 * The signed bytes of a session-key announcement (SPEC.md §5.1):
 * utf8(LABEL_SESSION_KEY) || 0x00 || u8 len || utf8(user) || sessionPub(32) || sessionKemPub(1184)
 * || u64be issuedAtMs. The user is inside so a signature cannot be replayed as another user's
 * announcement; both halves of the hybrid key are inside so a relay cannot strip or swap the
 * ML-KEM-768 one and keep the signature.
 */
export function sessionKeyMessage(user: string, sessionPub: Uint8Array, sessionKemPub: Uint8Array, issuedAtMs: number): Uint8Array {
  return keyAnnouncementMessage(LABEL_SESSION_KEY, user, sessionPub, sessionKemPub, issuedAtMs);
}

/**
 * The signed bytes of any hybrid key a user announces (SPEC.md §5.1, §12.1): the label says
 * which kind (session key, signed prekey, one-time prekey), so that a signature over one
 * kind can never be presented as another.
 */
export function keyAnnouncementMessage(labelText: string, user: string, pub: Uint8Array, kemPub: Uint8Array, issuedAtMs: number): Uint8Array {
  const fields = [[pub, 32, "X25519 public key"], [kemPub, MLKEM768_EK_LENGTH, "ML-KEM-768 encapsulation key"]] as const;
  return userStatement(labelText, user, fields, issuedAtMs, "issuedAtMs");
}

/**
 * The layout every statement an identity key signs shares (SPEC.md §5.1, §5.5):
 * utf8(label) || 0x00 || u8 len || utf8(user) || each field || u64be timeMs. Every field is
 * checked to its exact length first, so no two statements of one label can share bytes.
 */
export function userStatement(
  labelText: string,
  user: string,
  fields: readonly (readonly [bytes: Uint8Array, length: number, what: string])[],
  timeMs: number,
  timeName: string,
): Uint8Array {
  const name = userBytes(user);
  for (const [bytes, length, what] of fields) checkLength(bytes, length, what);
  if (!Number.isSafeInteger(timeMs) || timeMs < 0) throw new ProtocolError("malformed", `${timeName} must be a non-negative integer`);
  const label = utf8(labelText);
  const out = new Uint8Array(label.length + 2 + name.length + fields.reduce((n, [, length]) => n + length, 0) + 8);
  out.set(label);
  let offset = label.length;
  out[offset++] = 0x00;
  out[offset++] = name.length;
  out.set(name, offset);
  offset += name.length;
  for (const [bytes] of fields) {
    out.set(bytes, offset);
    offset += bytes.length;
  }
  new DataView(out.buffer).setBigUint64(offset, BigInt(timeMs), false);
  return out;
}

export function signSessionKey(
  identitySeed: Uint8Array,
  user: string,
  sessionPub: Uint8Array,
  sessionKemPub: Uint8Array,
  issuedAtMs: number,
): Uint8Array {
  return ed25519Sign(identitySeed, sessionKeyMessage(user, sessionPub, sessionKemPub, issuedAtMs));
}

/**
 * Throws "bad-signature" unless sig is a strict RFC 8032 signature over the announcement.
 * Clients use the default (noble, strict); the relay, for which it is only a filter, passes
 * the native verifier.
 */
export function verifySessionKey(
  identityPub: Uint8Array,
  user: string,
  sessionPub: Uint8Array,
  sessionKemPub: Uint8Array,
  issuedAtMs: number,
  sig: Uint8Array,
  verify: typeof ed25519Verify = ed25519Verify,
): void {
  checkLength(identityPub, 32, "identity public key");
  checkLength(sig, 64, "signature");
  if (!verify(identityPub, sessionKeyMessage(user, sessionPub, sessionKemPub, issuedAtMs), sig)) {
    throw new ProtocolError("bad-signature", "session key signature did not verify");
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/**
 * A 60-digit number two users compare out of band to check each other's identity keys.
 * The (user, key) pairs are sorted by the UTF-8 bytes of the user (then by key), so both
 * sides compute the same string. digest = SHA-512(utf8(LABEL_SAFETY_NUMBER) || for each
 * pair: u8 len || utf8(user) || identityKey(32)). Its first 60 bytes are cut into twelve
 * 5-byte big-endian integers, each rendered mod 100000 as 5 zero-padded digits (bias
 * 2^40 mod 10^5 / 2^40 < 10^-7); groups are joined by single spaces. SHA-512 rather than
 * SHA-256 because twelve 5-byte groups need 60 bytes.
 */
export function safetyNumber(userA: string, identityA: Uint8Array, userB: string, identityB: Uint8Array): string {
  checkLength(identityA, 32, "identity public key");
  checkLength(identityB, 32, "identity public key");
  const pairs = [
    { name: userBytes(userA), key: identityA },
    { name: userBytes(userB), key: identityB },
  ].sort((x, y) => compareBytes(x.name, y.name) || compareBytes(x.key, y.key));
  const parts: number[] = [...utf8(LABEL_SAFETY_NUMBER)];
  for (const { name, key } of pairs) parts.push(name.length, ...name, ...key);
  const digest = sha512(Uint8Array.from(parts));
  const groups: string[] = [];
  for (let i = 0; i < 60; i += 5) {
    let value = 0;
    for (let j = 0; j < 5; j++) value = value * 256 + (digest[i + j] as number);
    groups.push(String(value % 100000).padStart(5, "0"));
  }
  return groups.join(" ");
}
