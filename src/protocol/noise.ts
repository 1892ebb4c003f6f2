// The Noise Protocol Framework (revision 34) for 25519 + AESGCM + SHA256: CipherState,
// SymmetricState and HandshakeState, named and ordered as in Noise §5. smsg speaks
// Noise_XX (SPEC.md "Transport"); the other one- and two-way base patterns exist for the vectors.

import { ProtocolError } from "./errors.ts";
import { concat } from "./bytes.ts";
import {
  aesGcmOpen,
  aesGcmSeal,
  aesGcmSealParts,
  checkLength,
  hmacSha256,
  randomBytes,
  sha256,
  x25519,
  x25519Generate,
} from "./primitives.ts";
import type { KeyPair, Rand } from "./primitives.ts";

export const NOISE_PROTOCOL = "Noise_XX_25519_AESGCM_SHA256";
/** Noise §3: every handshake and transport message is at most 65535 bytes. */
export const NOISE_MAX_MESSAGE = 65535;

const HASHLEN = 32;
const DHLEN = 32;
const TAGLEN = 16;
const EMPTY = new Uint8Array(0);
// Noise §5.1: nonce 2^64-1 is reserved, so the last usable one is 2^64-2.
const MAX_NONCE = 2n ** 64n - 1n;


/** Noise §4.3 HKDF(chaining_key, input_key_material, num_outputs), num_outputs 2 or 3. */
function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, numOutputs: 2 | 3): Uint8Array[] {
  const tempKey = hmacSha256(chainingKey, inputKeyMaterial);
  const output1 = hmacSha256(tempKey, ONE);
  const output2 = hmacSha256(tempKey, output1, TWO);
  if (numOutputs === 2) return [output1, output2];
  return [output1, output2, hmacSha256(tempKey, output2, THREE)];
}
const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);
const THREE = Uint8Array.of(0x03);

/** Noise §12.3 AESGCM nonce: 32 zero bits, then the 64-bit counter big-endian. */
function aesGcmNonce(n: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  writeCounter(nonce, Number(n >> 32n), Number(n & 0xffffffffn));
  return nonce;
}

function writeCounter(nonce: Uint8Array, hi: number, lo: number): void {
  nonce[4] = hi >>> 24;
  nonce[5] = (hi >>> 16) & 0xff;
  nonce[6] = (hi >>> 8) & 0xff;
  nonce[7] = hi & 0xff;
  nonce[8] = lo >>> 24;
  nonce[9] = (lo >>> 16) & 0xff;
  nonce[10] = (lo >>> 8) & 0xff;
  nonce[11] = lo & 0xff;
}

const TWO_32 = 2 ** 32;

/**
 * Noise §5.1: a key k and a counter n. The counter is kept as two 32-bit halves written
 * into one reused nonce buffer: a BigInt and a DataView per transport message cost more
 * than the AES-GCM of a short message.
 */
export class CipherState {
  #k: Uint8Array | undefined;
  #hi = 0;
  #lo = 0;
  #nonce = new Uint8Array(12);

  initializeKey(key: Uint8Array | undefined): void {
    if (key !== undefined) checkLength(key, 32, "cipher key");
    this.#k = key === undefined ? undefined : Uint8Array.from(key);
    this.#hi = 0;
    this.#lo = 0;
  }

  hasKey(): boolean {
    return this.#k !== undefined;
  }

  setNonce(n: bigint): void {
    if (n < 0n || n > MAX_NONCE) throw new ProtocolError("malformed", "nonce out of range");
    this.#hi = Number(n >> 32n);
    this.#lo = Number(n & 0xffffffffn);
  }

  /** The nonce for counter n, refusing 2^64-1 (reserved, Noise §5.1). */
  #currentNonce(): Uint8Array {
    if (this.#hi === 0xffffffff && this.#lo === 0xffffffff) {
      throw new ProtocolError("nonce-exhausted", "CipherState nonce exhausted");
    }
    writeCounter(this.#nonce, this.#hi, this.#lo);
    return this.#nonce;
  }

  #advance(): void {
    if (++this.#lo === TWO_32) {
      this.#lo = 0;
      this.#hi++;
    }
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#k === undefined) return Uint8Array.from(plaintext);
    if (plaintext.length > NOISE_MAX_MESSAGE - TAGLEN) {
      throw new ProtocolError("too-large", "Noise message over 65535 bytes");
    }
    const ciphertext = aesGcmSeal(this.#k, this.#currentNonce(), ad, plaintext);
    this.#advance();
    return ciphertext;
  }

  /** encryptWithAd of the concatenation of parts, as pieces (aesGcmSealParts). */
  encryptPartsWithAd(ad: Uint8Array, parts: readonly Uint8Array[], length: number): Uint8Array[] {
    if (this.#k === undefined) return [concat(...parts)];
    if (length > NOISE_MAX_MESSAGE - TAGLEN) throw new ProtocolError("too-large", "Noise message over 65535 bytes");
    const pieces = aesGcmSealParts(this.#k, this.#currentNonce(), ad, parts);
    this.#advance();
    return pieces;
  }

  /** On a bad tag the nonce is not advanced (Noise §5.1); callers abort the session anyway. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.#k === undefined) return Uint8Array.from(ciphertext);
    if (ciphertext.length > NOISE_MAX_MESSAGE) {
      throw new ProtocolError("too-large", "Noise message over 65535 bytes");
    }
    if (ciphertext.length < TAGLEN) throw new ProtocolError("malformed", "ciphertext shorter than its tag");
    const plaintext = aesGcmOpen(this.#k, this.#currentNonce(), ad, ciphertext);
    this.#advance();
    return plaintext;
  }

  /** Noise §4.2 REKEY(k): the first 32 bytes of ENCRYPT(k, 2^64-1, empty, zeros). */
  rekey(): void {
    if (this.#k === undefined) throw new ProtocolError("handshake", "rekey without a key");
    this.#k = aesGcmSeal(this.#k, aesGcmNonce(MAX_NONCE), EMPTY, new Uint8Array(32)).subarray(0, 32);
  }
}

/** Noise §5.2: chaining key ck and handshake hash h around a CipherState. */
export class SymmetricState {
  #ck: Uint8Array;
  #h: Uint8Array;
  readonly cipherState = new CipherState();

  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    // Names up to HASHLEN bytes are zero-padded, longer ones hashed (Noise §5.2).
    if (name.length <= HASHLEN) {
      this.#h = new Uint8Array(HASHLEN);
      this.#h.set(name);
    } else {
      this.#h = sha256(name);
    }
    this.#ck = Uint8Array.from(this.#h);
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, tempK] = hkdf(this.#ck, inputKeyMaterial, 2) as [Uint8Array, Uint8Array];
    this.#ck = ck;
    this.cipherState.initializeKey(tempK);
  }

  mixHash(data: Uint8Array): void {
    this.#h = sha256(this.#h, data);
  }

  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.#ck, inputKeyMaterial, 3) as [Uint8Array, Uint8Array, Uint8Array];
    this.#ck = ck;
    this.mixHash(tempH);
    this.cipherState.initializeKey(tempK);
  }

  getHandshakeHash(): Uint8Array {
    return Uint8Array.from(this.#h);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.cipherState.encryptWithAd(this.#h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.cipherState.decryptWithAd(this.#h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Returns [initiator -> responder, responder -> initiator]. */
  split(): [CipherState, CipherState] {
    const [tempK1, tempK2] = hkdf(this.#ck, EMPTY, 2) as [Uint8Array, Uint8Array];
    const c1 = new CipherState();
    const c2 = new CipherState();
    c1.initializeKey(tempK1);
    c2.initializeKey(tempK2);
    return [c1, c2];
  }
}

type PreToken = "e" | "s";
type Token = "e" | "s" | "ee" | "es" | "se" | "ss";
type HandshakePattern = {
  initiatorPre: PreToken[];
  responderPre: PreToken[];
  messages: Token[][]; // message i goes initiator -> responder when i is even
};

// Noise §7.4 (one-way) and §7.5 (interactive) base patterns.
const PATTERNS: Record<string, HandshakePattern> = {
  N: { initiatorPre: [], responderPre: ["s"], messages: [["e", "es"]] },
  K: { initiatorPre: ["s"], responderPre: ["s"], messages: [["e", "es", "ss"]] },
  X: { initiatorPre: [], responderPre: ["s"], messages: [["e", "es", "s", "ss"]] },
  NN: { initiatorPre: [], responderPre: [], messages: [["e"], ["e", "ee"]] },
  NK: { initiatorPre: [], responderPre: ["s"], messages: [["e", "es"], ["e", "ee"]] },
  NX: { initiatorPre: [], responderPre: [], messages: [["e"], ["e", "ee", "s", "es"]] },
  XX: { initiatorPre: [], responderPre: [], messages: [["e"], ["e", "ee", "s", "es"], ["s", "se"]] },
  XK: { initiatorPre: [], responderPre: ["s"], messages: [["e", "es"], ["e", "ee"], ["s", "se"]] },
  IK: { initiatorPre: [], responderPre: ["s"], messages: [["e", "es", "s", "ss"], ["e", "ee", "se"]] },
  KK: { initiatorPre: ["s"], responderPre: ["s"], messages: [["e", "es", "ss"], ["e", "ee", "se"]] },
};

export type HandshakeOptions = {
  pattern: string;
  initiator: boolean;
  prologue: Uint8Array;
  s?: KeyPair;
  /** A pinned ephemeral key pair, for test vectors only. */
  e?: KeyPair;
  rs?: Uint8Array;
  re?: Uint8Array;
  rand?: Rand;
};

function checkKeyPair(pair: KeyPair, what: string): KeyPair {
  checkLength(pair.secretKey, DHLEN, `${what} secret key`);
  checkLength(pair.publicKey, DHLEN, `${what} public key`);
  return { secretKey: Uint8Array.from(pair.secretKey), publicKey: Uint8Array.from(pair.publicKey) };
}

/**
 * The local static key is used as given, not copied: the native key object made for its
 * array is then reused by every handshake (for the relay's key, one private-key import per
 * login saved; see primitives.ts). The caller keeps it for the handshake's lifetime.
 */
function checkStatic(pair: KeyPair): KeyPair {
  checkLength(pair.secretKey, DHLEN, "local static secret key");
  checkLength(pair.publicKey, DHLEN, "local static public key");
  return pair;
}

/**
 * Noise §5.3. Construction is Initialize(); after isFinished(), split() gives the
 * transport CipherStates. Any failure poisons the state: a half-processed handshake
 * message leaves h and ck diverged from the peer, so the handshake must be abandoned.
 */
export class HandshakeState {
  #ss!: SymmetricState;
  #pattern!: HandshakePattern;
  #initiator = false;
  #s: KeyPair | undefined;
  #e: KeyPair | undefined;
  #pinnedE: KeyPair | undefined;
  #rs: Uint8Array | undefined;
  #re: Uint8Array | undefined;
  #rand: Rand = randomBytes;
  #index = 0;
  #state: "new" | "running" | "failed" = "new";

  constructor(options?: HandshakeOptions) {
    if (options) this.initialize(options);
  }

  initialize(options: HandshakeOptions): void {
    if (this.#state !== "new") throw new ProtocolError("handshake", "HandshakeState initialized twice");
    // hasOwn: a name like "toString" must not resolve through the prototype.
    const pattern = Object.hasOwn(PATTERNS, options.pattern) ? PATTERNS[options.pattern] : undefined;
    if (!pattern) throw new ProtocolError("handshake", "unsupported Noise pattern");
    this.#pattern = pattern;
    this.#initiator = options.initiator;
    this.#s = options.s && checkStatic(options.s);
    this.#pinnedE = options.e && checkKeyPair(options.e, "local ephemeral");
    if (options.rs) checkLength(options.rs, DHLEN, "remote static key");
    if (options.re) checkLength(options.re, DHLEN, "remote ephemeral key");
    this.#rs = options.rs && Uint8Array.from(options.rs);
    this.#re = options.re && Uint8Array.from(options.re);
    this.#rand = options.rand ?? randomBytes;

    // Refuse to start a handshake that cannot finish: every key the pattern needs
    // from us, or pre-shares from the peer, must be here now.
    const mine = options.initiator ? 0 : 1;
    const needsLocalS =
      (options.initiator ? pattern.initiatorPre : pattern.responderPre).includes("s") ||
      pattern.messages.some((tokens, i) => i % 2 === mine && tokens.includes("s"));
    if (needsLocalS && !this.#s) throw new ProtocolError("handshake", "pattern needs a local static key");
    const remotePre = options.initiator ? pattern.responderPre : pattern.initiatorPre;
    if (remotePre.includes("s") && !this.#rs) throw new ProtocolError("handshake", "pattern needs the remote static key");
    if (remotePre.includes("e") && !this.#re) throw new ProtocolError("handshake", "pattern needs the remote ephemeral key");

    this.#ss = new SymmetricState(`Noise_${options.pattern}_25519_AESGCM_SHA256`);
    this.#ss.mixHash(options.prologue);
    // Pre-messages are hashed initiator's first, then responder's (Noise §7.1).
    for (const [side, tokens] of [
      [true, pattern.initiatorPre],
      [false, pattern.responderPre],
    ] as const) {
      for (const token of tokens) this.#ss.mixHash(this.#preMessageKey(side === this.#initiator, token));
    }
    this.#state = "running";
  }

  #preMessageKey(local: boolean, token: PreToken): Uint8Array {
    if (local) {
      const pair = token === "s" ? this.#s : (this.#e ??= this.#pinnedE);
      if (!pair) throw new ProtocolError("handshake", "pattern needs a local pre-message key");
      return pair.publicKey;
    }
    return (token === "s" ? this.#rs : this.#re) as Uint8Array;
  }

  isFinished(): boolean {
    return this.#state === "running" && this.#index >= this.#pattern.messages.length;
  }

  remoteStatic(): Uint8Array | undefined {
    return this.#rs && Uint8Array.from(this.#rs);
  }

  handshakeHash(): Uint8Array {
    this.#requireRunning();
    return this.#ss.getHandshakeHash();
  }

  split(): [CipherState, CipherState] {
    if (!this.isFinished()) throw new ProtocolError("handshake", "split before the handshake finished");
    return this.#ss.split();
  }

  #requireRunning(): void {
    if (this.#state !== "running") {
      throw new ProtocolError("handshake", this.#state === "new" ? "HandshakeState not initialized" : "handshake already failed");
    }
  }

  #nextTokens(writing: boolean): Token[] {
    this.#requireRunning();
    const tokens = this.#pattern.messages[this.#index];
    if (!tokens) throw new ProtocolError("handshake", "handshake already finished");
    const initiatorTurn = this.#index % 2 === 0;
    if (initiatorTurn !== (this.#initiator === writing)) {
      throw new ProtocolError("handshake", writing ? "not our turn to write" : "not our turn to read");
    }
    return tokens;
  }

  /** Bytes this message adds around its payload: keys, their tags and the payload's tag. */
  #overhead(tokens: Token[]): number {
    let keyed = this.#ss.cipherState.hasKey();
    let overhead = 0;
    for (const token of tokens) {
      if (token === "e") overhead += DHLEN;
      else if (token === "s") overhead += DHLEN + (keyed ? TAGLEN : 0);
      else keyed = true;
    }
    return overhead + (keyed ? TAGLEN : 0);
  }

  #dh(token: "ee" | "es" | "se" | "ss"): Uint8Array {
    // es = DH(initiator e, responder s); se = DH(initiator s, responder e).
    const localFirst = token[0] === "e" ? this.#e : this.#s;
    const localSecond = token[1] === "e" ? this.#e : this.#s;
    const remoteFirst = token[0] === "e" ? this.#re : this.#rs;
    const remoteSecond = token[1] === "e" ? this.#re : this.#rs;
    const local = this.#initiator ? localFirst : localSecond;
    const remote = this.#initiator ? remoteSecond : remoteFirst;
    if (!local || !remote) throw new ProtocolError("handshake", "missing key for DH");
    return x25519(local.secretKey, remote);
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    const tokens = this.#nextTokens(true);
    if (this.#overhead(tokens) + payload.length > NOISE_MAX_MESSAGE) {
      throw new ProtocolError("too-large", "Noise handshake message over 65535 bytes");
    }
    try {
      const parts: Uint8Array[] = [];
      for (const token of tokens) {
        if (token === "e") {
          if (this.#e) throw new ProtocolError("handshake", "ephemeral key already set");
          this.#e = this.#pinnedE ?? x25519Generate(this.#rand);
          parts.push(this.#e.publicKey);
          this.#ss.mixHash(this.#e.publicKey);
        } else if (token === "s") {
          parts.push(this.#ss.encryptAndHash((this.#s as KeyPair).publicKey));
        } else {
          this.#ss.mixKey(this.#dh(token));
        }
      }
      parts.push(this.#ss.encryptAndHash(payload));
      this.#index += 1;
      return concat(...parts);
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
  }

  readMessage(message: Uint8Array): Uint8Array {
    const tokens = this.#nextTokens(false);
    // Lengths first: a short message must fail before any DH or hashing runs.
    if (message.length > NOISE_MAX_MESSAGE) throw new ProtocolError("too-large", "Noise message over 65535 bytes");
    if (message.length < this.#overhead(tokens)) {
      throw new ProtocolError("malformed", "Noise handshake message too short");
    }
    try {
      let offset = 0;
      for (const token of tokens) {
        if (token === "e") {
          if (this.#re) throw new ProtocolError("handshake", "remote ephemeral key already set");
          this.#re = message.slice(offset, offset + DHLEN);
          offset += DHLEN;
          this.#ss.mixHash(this.#re);
        } else if (token === "s") {
          if (this.#rs) throw new ProtocolError("handshake", "remote static key already set");
          const length = DHLEN + (this.#ss.cipherState.hasKey() ? TAGLEN : 0);
          this.#rs = this.#ss.decryptAndHash(message.subarray(offset, offset + length));
          offset += length;
        } else {
          this.#ss.mixKey(this.#dh(token));
        }
      }
      const payload = this.#ss.decryptAndHash(message.subarray(offset));
      this.#index += 1;
      return payload;
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
  }
}
