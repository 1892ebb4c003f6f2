// The Noise Protocol Framework (revision 34) for 25519 + AESGCM + SHA256: CipherState,
// SymmetricState and HandshakeState, named and ordered as in Noise §5, with the KEM tokens
// `e1` and `ekem1` of the `hfs` modifier ("KEM-based Hybrid Forward Secrecy for Noise",
// revision 1) over ML-KEM-768. smsg speaks Noise_XXhfs (SPEC.md §3.1); the base patterns,
// plain XX among them, exist for the cacophony vectors.

import { ProtocolError } from "./errors.ts";
import { concat, copyBytes } from "./bytes.ts";
import {
  aesGcmOpen,
  aesGcmSeal,
  aesGcmSealParts,
  checkLength,
  hkdfSha256,
  randomBytes,
  sha256,
  x25519,
  x25519Generate,
} from "./primitives.ts";
import type { KeyPair, Rand } from "./primitives.ts";
import { MLKEM768_CT_LENGTH, MLKEM768_EK_LENGTH, mlkemEncaps, mlkemEphemeral, type MlkemEncapsulation, type MlkemEphemeral } from "./mlkem.ts";

/** The name of smsg's handshake (SPEC.md §3.1); the KEM follows the DH after a plus sign (hfs §5). */
export const NOISE_PROTOCOL = "Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256";
/** Noise §3: every handshake and transport message is at most 65535 bytes. */
export const NOISE_MAX_MESSAGE = 65535;

const HASHLEN = 32;
const DHLEN = 32;
const TAGLEN = 16;
const EMPTY = new Uint8Array(0);
// Noise §5.1: nonce 2^64-1 is reserved, so the last usable one is 2^64-2.
const MAX_NONCE = 2n ** 64n - 1n;


/**
 * Noise §4.3 HKDF(chaining_key, input_key_material, num_outputs), num_outputs 2 or 3: with
 * zero-length info, output1..3 are exactly RFC 5869's T(1)..T(3) for salt = chaining_key
 * (temp_key is HKDF-Extract, output_i = HMAC(temp_key, output_{i-1} || i)), so one native
 * HKDF call replaces the three HMACs; the cacophony vectors check it.
 */
function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, numOutputs: 2 | 3): Uint8Array[] {
  const okm = hkdfSha256(inputKeyMaterial, chainingKey, EMPTY, numOutputs * HASHLEN);
  const outputs = [okm.slice(0, HASHLEN), okm.slice(HASHLEN, 2 * HASHLEN)];
  if (numOutputs === 3) outputs.push(okm.slice(2 * HASHLEN));
  okm.fill(0);
  return outputs;
}

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
/**
 * The nonce of the operation under way, shared by every CipherState: AES-GCM reads it before
 * it returns (nothing keeps it), and one per state was two objects more in each of a relay's
 * idle sessions.
 */
const NONCE = new Uint8Array(12);

export class CipherState {
  #k: Uint8Array | undefined;
  #hi = 0;
  #lo = 0;

  initializeKey(key: Uint8Array | undefined): void {
    if (key !== undefined) checkLength(key, 32, "cipher key");
    this.#k = key === undefined ? undefined : copyBytes(key);
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
    writeCounter(NONCE, this.#hi, this.#lo);
    return NONCE;
  }

  #advance(): void {
    if (++this.#lo === TWO_32) {
      this.#lo = 0;
      this.#hi++;
    }
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#k === undefined) return copyBytes(plaintext);
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
    if (this.#k === undefined) return copyBytes(ciphertext);
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
    this.#ck = copyBytes(this.#h);
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
    return copyBytes(this.#h);
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
type Token = "e" | "s" | "ee" | "es" | "se" | "ss" | "e1" | "ekem1";
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
  // hfs §5: e1 after the first e (no DH in that message to hide it behind), ekem1 after the first ee.
  XXhfs: { initiatorPre: [], responderPre: [], messages: [["e", "e1"], ["e", "ee", "ekem1", "s", "es"], ["s", "se"]] },
};

/**
 * The KEM functions of hfs §3 for ML-KEM-768. The default is the runtime's native one;
 * the handshake vectors give their own, with a fixed seed and fixed encapsulation randomness.
 */
export interface HandshakeKem {
  /** GENERATE_KEM_KEYPAIR(): the e1 key pair. */
  generate(): Promise<MlkemEphemeral>;
  /** GENERATE_KEM_CIPHERTEXT(public_key): the ekem1 ciphertext and kem_output. */
  encapsulate(encapsulationKey: Uint8Array): Promise<MlkemEncapsulation>;
}

export const NATIVE_KEM: HandshakeKem = { generate: mlkemEphemeral, encapsulate: mlkemEncaps };

/** Noise §8 protocol name: the hfs patterns name their KEM after the DH (hfs §5). */
function protocolName(pattern: string): string {
  return pattern.endsWith("hfs") ? `Noise_${pattern}_25519+MLKEM768_AESGCM_SHA256` : `Noise_${pattern}_25519_AESGCM_SHA256`;
}

export type HandshakeOptions = {
  pattern: string;
  initiator: boolean;
  prologue: Uint8Array;
  s?: KeyPair;
  /** A pinned ephemeral key pair: test vectors, and a load generator's pool (never the real client). */
  e?: KeyPair;
  rs?: Uint8Array;
  re?: Uint8Array;
  rand?: Rand;
  /** The KEM of the hfs patterns; the native ML-KEM-768 unless a vector pins it. */
  kem?: HandshakeKem;
};

/**
 * A local key pair (the static one, or a pinned ephemeral one) is used as given, not copied:
 * the native key object made for its array is then reused by every handshake (for the
 * relay's key, one private-key import per login saved; see primitives.ts; for a load
 * generator's pool of ephemeral keys, the same). The caller keeps it for the handshake's lifetime.
 */
function checkLocal(pair: KeyPair, what: string): KeyPair {
  checkLength(pair.secretKey, DHLEN, `${what} secret key`);
  checkLength(pair.publicKey, DHLEN, `${what} public key`);
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
  #kem: HandshakeKem = NATIVE_KEM;
  #e1: MlkemEphemeral | undefined; // ours, as initiator
  #re1: Uint8Array | undefined; // the peer's, as responder
  #encapsulation: MlkemEncapsulation | undefined; // made for the ekem1 we are about to write
  #index = 0;
  #state: "new" | "running" | "waiting" | "failed" = "new";

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
    this.#s = options.s && checkLocal(options.s, "local static");
    this.#pinnedE = options.e && checkLocal(options.e, "local ephemeral");
    if (options.rs) checkLength(options.rs, DHLEN, "remote static key");
    if (options.re) checkLength(options.re, DHLEN, "remote ephemeral key");
    this.#rs = options.rs && copyBytes(options.rs);
    this.#re = options.re && copyBytes(options.re);
    this.#rand = options.rand ?? randomBytes;
    this.#kem = options.kem ?? NATIVE_KEM;

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

    this.#ss = new SymmetricState(protocolName(options.pattern));
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
    return this.#rs && copyBytes(this.#rs);
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
      const why = { new: "HandshakeState not initialized", waiting: "handshake message still being processed", failed: "handshake already failed" };
      throw new ProtocolError("handshake", why[this.#state as keyof typeof why]);
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
      // hfs §4: KEM keys and ciphertexts travel "as if a static DH public key".
      else if (token === "e1") overhead += MLKEM768_EK_LENGTH + (keyed ? TAGLEN : 0);
      else if (token === "ekem1") overhead += MLKEM768_CT_LENGTH + (keyed ? TAGLEN : 0);
      else keyed = true;
    }
    return overhead + (keyed ? TAGLEN : 0);
  }

  #dh(token: Token): Uint8Array {
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

  /**
   * WriteMessage for a message with KEM tokens: the KEM work (generating e1, encapsulating
   * to the peer's e1) is asynchronous in the runtime, and depends on nothing the message
   * itself mixes in, so it is done first and the tokens are then processed in order.
   */
  async writeMessageAsync(payload: Uint8Array): Promise<Uint8Array> {
    const tokens = this.#nextTokens(true);
    this.#state = "waiting";
    try {
      if (tokens.includes("e1") && !this.#e1) this.#e1 = await this.#kem.generate();
      if (tokens.includes("ekem1")) {
        if (!this.#re1) throw new ProtocolError("handshake", "ekem1 before the peer's e1");
        this.#encapsulation = await this.#kem.encapsulate(this.#re1);
      }
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
    this.#state = "running";
    return this.writeMessage(payload);
  }

  /** Noise §5.3 WriteMessage; a message with KEM tokens goes through writeMessageAsync. */
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
        } else if (token === "e1") {
          if (!this.#e1) throw new ProtocolError("handshake", "e1 needs writeMessageAsync");
          parts.push(this.#ss.encryptAndHash(this.#e1.encapsulationKey));
        } else if (token === "ekem1") {
          const kem = this.#encapsulation;
          if (!kem) throw new ProtocolError("handshake", "ekem1 needs writeMessageAsync");
          this.#encapsulation = undefined;
          parts.push(this.#ss.encryptAndHash(kem.ciphertext));
          this.#ss.mixKey(kem.sharedSecret); // hfs §4: MixKey(kem_output) on sending ekem1
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

  /** Noise §5.3 ReadMessage; a message with an ekem1 to read goes through readMessageAsync. */
  readMessage(message: Uint8Array): Uint8Array {
    const tokens = this.#startRead(message);
    try {
      const at = this.#readTokens(message, tokens, 0, 0);
      if (at.token < tokens.length) throw new ProtocolError("handshake", "ekem1 needs readMessageAsync");
      return this.#finishRead(message, at.offset);
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
  }

  /**
   * ReadMessage for a message with an ekem1: the tokens before it run, the ciphertext is
   * decrypted and decapsulated (asynchronously in the runtime), MixKey(kem_output) (hfs §4),
   * and the tokens after it run under the key that now depends on ML-KEM too.
   */
  async readMessageAsync(message: Uint8Array): Promise<Uint8Array> {
    const tokens = this.#startRead(message);
    try {
      let at = this.#readTokens(message, tokens, 0, 0);
      while (at.token < tokens.length) {
        const length = MLKEM768_CT_LENGTH + (this.#ss.cipherState.hasKey() ? TAGLEN : 0);
        const ciphertext = this.#ss.decryptAndHash(message.subarray(at.offset, at.offset + length));
        if (!this.#e1) throw new ProtocolError("handshake", "ekem1 without our e1");
        this.#state = "waiting";
        const kemOutput = await this.#e1.decapsulate(ciphertext);
        this.#state = "running";
        this.#ss.mixKey(kemOutput);
        at = this.#readTokens(message, tokens, at.token + 1, at.offset + length);
      }
      return this.#finishRead(message, at.offset);
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
  }

  #startRead(message: Uint8Array): Token[] {
    const tokens = this.#nextTokens(false);
    // Lengths first: a short message must fail before any DH, KEM or hashing runs.
    if (message.length > NOISE_MAX_MESSAGE) throw new ProtocolError("too-large", "Noise message over 65535 bytes");
    if (message.length < this.#overhead(tokens)) {
      throw new ProtocolError("malformed", "Noise handshake message too short");
    }
    return tokens;
  }

  /** Processes tokens from index `token` at byte `offset`; stops at an ekem1, which needs the KEM. */
  #readTokens(message: Uint8Array, tokens: Token[], token: number, offset: number): { token: number; offset: number } {
    for (; token < tokens.length; token++) {
      const t = tokens[token]!;
      if (t === "ekem1") break;
      if (t === "e") {
        if (this.#re) throw new ProtocolError("handshake", "remote ephemeral key already set");
        this.#re = copyBytes(message.subarray(offset, offset + DHLEN)); // Buffer's slice would be a view
        offset += DHLEN;
        this.#ss.mixHash(this.#re);
      } else if (t === "s") {
        if (this.#rs) throw new ProtocolError("handshake", "remote static key already set");
        const length = DHLEN + (this.#ss.cipherState.hasKey() ? TAGLEN : 0);
        this.#rs = this.#ss.decryptAndHash(message.subarray(offset, offset + length));
        offset += length;
      } else if (t === "e1") {
        if (this.#re1) throw new ProtocolError("handshake", "remote KEM key already set");
        const length = MLKEM768_EK_LENGTH + (this.#ss.cipherState.hasKey() ? TAGLEN : 0);
        this.#re1 = this.#ss.decryptAndHash(message.subarray(offset, offset + length)); // a private copy either way
        offset += length;
      } else {
        this.#ss.mixKey(this.#dh(t));
      }
    }
    return { token, offset };
  }

  #finishRead(message: Uint8Array, offset: number): Uint8Array {
    const payload = this.#ss.decryptAndHash(message.subarray(offset));
    this.#index += 1;
    return payload;
  }
}
