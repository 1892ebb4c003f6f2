// smsg's handshake (SPEC.md §2.3 "Preamble, versions and transport records", §3.1 "Noise
// handshake"): the preamble and version reply, Noise_XXhfs (X25519 + ML-KEM-768) with its
// three payloads, the relay-key pin, and the split into a Transport. No I/O: each side takes
// record bodies and returns the record bodies to send, so the relay, the client and the test
// doubles only move bytes. The steps that run the KEM (the client's first record and its
// reading of message 2, the relay's answer to the first record) are asynchronous, because
// the runtime's ML-KEM is.

import { HandshakeState, type HandshakeKem } from "./noise.ts";
import { Transport } from "./transport.ts";
import { ProtocolError } from "./errors.ts";
import { PREAMBLE_MAGIC, PROTOCOL_VERSION } from "./framing.ts";
import { bytesEqual, concat } from "./bytes.ts";
import { decodeLogin, decodeRelayHello, encodeLogin, encodeRelayHello, type RelayHello } from "./messages.ts";
import type { KeyPair, Rand } from "./primitives.ts";
import { MLKEM768_CT_LENGTH, MLKEM768_EK_LENGTH } from "./mlkem.ts";

/** `"SMSG" || version`: the start of the client's first record and the Noise prologue (§2.3). */
export const PREAMBLE = concat(PREAMBLE_MAGIC, Uint8Array.of(PROTOCOL_VERSION));
const PREAMBLE_LEN = PREAMBLE.length;
const EMPTY = new Uint8Array(0);
const TAGLEN = 16;

/** The client's first record (§3.1): preamble, e, e1 in the clear, the empty payload. */
export const FIRST_RECORD_LENGTH = PREAMBLE_LEN + 32 + MLKEM768_EK_LENGTH;
/** Message 2 around its payload: e, the encrypted ekem1 and s, and the payload's tag (§3.1). */
export const MESSAGE2_OVERHEAD = 32 + (MLKEM768_CT_LENGTH + TAGLEN) + (32 + TAGLEN) + TAGLEN;

/** XX, or XX with the hfs modifier: `-> e, e1; <- e, ee, ekem1, s, es; -> s, se` (§3.1). */
export type XxPattern = "XX" | "XXhfs";

/** The keys of one side: its static pair, and an ephemeral pair and KEM pinned only by test vectors. */
export interface XxKeys {
  s: KeyPair;
  e?: KeyPair;
  rand?: Rand;
  kem?: HandshakeKem;
}

/**
 * Noise_XXhfs (smsg's handshake) or plain Noise_XX as the initiator, with whatever prologue
 * and payloads it is given: the layer the cacophony vectors check (XX) and the hybrid
 * vector too. It is also the one place that says which half of Split() goes which way: c1
 * carries initiator -> responder (Noise §5.2).
 */
export class XxInitiator {
  readonly #hs: HandshakeState;

  constructor(prologue: Uint8Array, keys: XxKeys, pattern: XxPattern = "XXhfs") {
    this.#hs = new HandshakeState({ pattern, initiator: true, prologue, ...keys });
  }

  /** Asynchronous: with hfs it generates the ML-KEM key pair e1. */
  writeMessage1(payload: Uint8Array): Promise<Uint8Array> {
    return this.#hs.writeMessageAsync(payload);
  }

  /** The responder's payload; its static key is then remoteStatic. Asynchronous: it decapsulates ekem1. */
  readMessage2(message: Uint8Array): Promise<Uint8Array> {
    return this.#hs.readMessageAsync(message);
  }

  get remoteStatic(): Uint8Array | undefined {
    return this.#hs.remoteStatic();
  }

  writeMessage3(payload: Uint8Array): { message: Uint8Array; transport: Transport } {
    const message = this.#hs.writeMessage(payload);
    const [c1, c2] = this.#hs.split();
    return { message, transport: new Transport({ send: c1, receive: c2 }) };
  }
}

/** The responder; see XxInitiator. */
export class XxResponder {
  readonly #hs: HandshakeState;

  constructor(prologue: Uint8Array, keys: XxKeys, pattern: XxPattern = "XXhfs") {
    this.#hs = new HandshakeState({ pattern, initiator: false, prologue, ...keys });
  }

  /** Synchronous: e1 is only read here, so a bad message 1 costs no KEM work. */
  readMessage1(message: Uint8Array): Uint8Array {
    return this.#hs.readMessage(message);
  }

  /** Asynchronous: with hfs it encapsulates to the initiator's e1. */
  writeMessage2(payload: Uint8Array): Promise<Uint8Array> {
    return this.#hs.writeMessageAsync(payload);
  }

  /** The initiator's payload, its static key, and the transport (c2 carries responder -> initiator). */
  readMessage3(message: Uint8Array): { payload: Uint8Array; remoteStatic: Uint8Array; transport: Transport } {
    const payload = this.#hs.readMessage(message);
    const [c1, c2] = this.#hs.split();
    return { payload, remoteStatic: this.#hs.remoteStatic()!, transport: new Transport({ send: c2, receive: c1 }) };
  }
}

/** A body of exactly 5 bytes beginning "SMSG" is a version reply: a Noise message 2 is 1,213 bytes. */
function isVersionReply(record: Uint8Array): boolean {
  return record.length === PREAMBLE_LEN && PREAMBLE_MAGIC.every((b, i) => record[i] === b);
}

function hasMagic(record: Uint8Array): boolean {
  return record.length >= PREAMBLE_LEN && PREAMBLE_MAGIC.every((b, i) => record[i] === b);
}


type ClientStep = "new" | "sent" | "hello" | "done" | "working" | "failed";
type RelayStep = "new" | "hello" | "done" | "working" | "failed";

/**
 * One step of a handshake that awaits the KEM: "working" meanwhile, so a step called while
 * another is under way fails as out of order; any failure leaves the handshake failed.
 */
async function stepAsync<S extends string, T>(
  state: { get: () => S; set: (s: S | "working" | "failed") => void },
  from: S,
  to: S,
  what: string,
  run: () => Promise<T>,
): Promise<T> {
  if (state.get() !== from) throw new ProtocolError("handshake", `${what} handshake step out of order (${state.get()})`);
  state.set("working");
  try {
    const out = await run();
    if (state.get() === "working") state.set(to);
    return out;
  } catch (e) {
    state.set("failed");
    throw e;
  }
}

export interface ClientHandshakeOptions {
  /** The user's login key, the Noise static key (§3.2). */
  login: KeyPair;
  /** A pinned ephemeral key pair and KEM: test vectors, and a load generator's pools (never the real client). */
  e?: KeyPair;
  rand?: Rand;
  kem?: HandshakeKem;
}

/**
 * The client's side: `start()` gives the first record, `readReply()` takes the relay's first
 * record and checks the relay key against the pin, `login()` gives message 3 and the
 * Transport. Any failure ends it: a half-run handshake cannot be resumed. The first two are
 * asynchronous (ML-KEM key generation, decapsulation): await each before the next.
 */
export class ClientHandshake {
  readonly #xx: XxInitiator;
  #state: ClientStep = "new";
  #relayKey: Uint8Array | undefined;
  #relayVersion: number | undefined;

  constructor(o: ClientHandshakeOptions) {
    this.#xx = new XxInitiator(PREAMBLE, { s: o.login, e: o.e, rand: o.rand, kem: o.kem });
  }

  /** The relay's static key, once message 2 decrypted (also when it failed the pin). */
  get relayKey(): Uint8Array | undefined {
    return this.#relayKey;
  }

  /** The version a relay's version reply named (after readReply threw `bad-version`). */
  get relayVersion(): number | undefined {
    return this.#relayVersion;
  }

  /** The client's first record: preamble || Noise message 1 (e, e1) with an empty payload. */
  start(): Promise<Uint8Array> {
    return this.#stepAsync("new", "sent", async () => concat(PREAMBLE, await this.#xx.writeMessage1(EMPTY)));
  }

  /**
   * The relay's answer to the first record. A version reply (§2.3) throws `bad-version` (the
   * relay's version is then relayVersion) or, naming our own version, `malformed`. Message 2
   * gives the RelayHello and the relay key; with a pin, a different key throws
   * `relay-key-changed` before message 3 exists, so that relay never learns who logs in (§3.2).
   * A message 2 without its ML-KEM ciphertext is too short (`malformed`); one whose ciphertext
   * was altered or made for another key gives another KEM output, so s fails (`bad-tag`):
   * there is no classical-only handshake to fall back to.
   */
  readReply(record: Uint8Array, pinned: Uint8Array | null): Promise<{ hello: RelayHello; relayKey: Uint8Array }> {
    return this.#stepAsync("sent", "hello", async () => {
      if (isVersionReply(record)) {
        // Unauthenticated: anyone on the path can send it, so the caller shows it and retries.
        if (record[4] === PROTOCOL_VERSION) throw new ProtocolError("malformed", "a version reply with this client's own version");
        this.#relayVersion = record[4];
        throw new ProtocolError("bad-version", "the relay speaks another protocol version");
      }
      const hello = decodeRelayHello(await this.#xx.readMessage2(record));
      const relayKey = this.#xx.remoteStatic!;
      this.#relayKey = relayKey;
      if (pinned && !bytesEqual(pinned, relayKey)) throw new ProtocolError("relay-key-changed", "the relay's key differs from the pin");
      return { hello, relayKey };
    });
  }

  /** Message 3 carrying Login, and the Transport that follows it. */
  login(user: string, invite?: Uint8Array): { record: Uint8Array; transport: Transport } {
    return this.#step("hello", "done", () => {
      const { message, transport } = this.#xx.writeMessage3(encodeLogin(user, invite));
      return { record: message, transport };
    });
  }

  #stepAsync<T>(from: ClientStep, to: ClientStep, run: () => Promise<T>): Promise<T> {
    return stepAsync({ get: () => this.#state, set: (s) => (this.#state = s) }, from, to, "client", run);
  }

  #step<T>(from: ClientStep, to: ClientStep, run: () => T): T {
    if (this.#state !== from) throw new ProtocolError("handshake", `client handshake step out of order (${this.#state})`);
    this.#state = "failed";
    const out = run();
    this.#state = to;
    return out;
  }
}

export interface RelayHandshakeOptions {
  /** The relay key, the Noise static key of the relay (§3.2). */
  relayKey: KeyPair;
  /** RelayHello's limits; its version is this module's. */
  maxMessageBytes: number;
  heartbeatTimeout: number;
  /** A pinned ephemeral key pair and KEM, for test vectors (and the hostile relay's KEM tricks) only. */
  e?: KeyPair;
  rand?: Rand;
  kem?: HandshakeKem;
}

/** What to answer the client's first record with: message 2, or a version reply, then close. */
export type RelayFirstAnswer =
  | { kind: "message2"; record: Uint8Array }
  | { kind: "version-reply"; record: Uint8Array; clientVersion: number };

/**
 * The relay's side: `readFirst()` runs the first-record check of §2.3 and answers (awaiting
 * the ML-KEM encapsulation), `readLogin()` takes message 3 and gives the Login, the client's
 * static key and the Transport.
 */
export class RelayHandshake {
  readonly #o: RelayHandshakeOptions;
  #xx: XxResponder | undefined;
  #state: RelayStep = "new";

  constructor(o: RelayHandshakeOptions) {
    this.#o = o;
  }

  /**
   * Throws `malformed`, with nothing to answer, for a missing preamble, a message 1 without
   * its ML-KEM key (too short, or a key with a coefficient not reduced mod q) or with a payload.
   */
  readFirst(record: Uint8Array): Promise<RelayFirstAnswer> {
    return stepAsync({ get: () => this.#state, set: (s) => (this.#state = s) }, "new", "hello", "relay", async (): Promise<RelayFirstAnswer> => {
      if (!hasMagic(record)) throw new ProtocolError("malformed", "no SMSG preamble");
      if (record[4] !== PROTOCOL_VERSION) {
        // In the clear, our own preamble: the client can then name both versions (§2.3).
        this.#state = "done";
        return { kind: "version-reply", record: PREAMBLE, clientVersion: record[4]! };
      }
      // Built only now: a record without the preamble costs the relay no hashing.
      const xx = new XxResponder(PREAMBLE, { s: this.#o.relayKey, e: this.#o.e, rand: this.#o.rand, kem: this.#o.kem });
      const payload = xx.readMessage1(record.subarray(PREAMBLE_LEN));
      if (payload.length !== 0) throw new ProtocolError("malformed", "message 1 carries a payload");
      const hello = encodeRelayHello({
        version: PROTOCOL_VERSION,
        maxMessageBytes: this.#o.maxMessageBytes,
        heartbeatTimeout: this.#o.heartbeatTimeout,
      });
      const message2 = await xx.writeMessage2(hello);
      this.#xx = xx;
      return { kind: "message2", record: message2 };
    });
  }

  /** Message 3: the Login (decoded strictly), the client's login key, and the Transport. */
  readLogin(record: Uint8Array): { user: string; invite?: Uint8Array; loginKey: Uint8Array; transport: Transport } {
    return this.#step("hello", "done", () => {
      const { payload, remoteStatic, transport } = this.#xx!.readMessage3(record);
      this.#xx = undefined;
      return { ...decodeLogin(payload), loginKey: remoteStatic, transport };
    });
  }

  #step<T>(from: RelayStep, to: RelayStep, run: () => T): T {
    if (this.#state !== from) throw new ProtocolError("handshake", `relay handshake step out of order (${this.#state})`);
    this.#state = "failed";
    const out = run();
    if (this.#state === "failed") this.#state = to;
    return out;
  }
}
