// smsg's handshake (SPEC.md §2.3 "Preamble, versions and transport records", §3.1 "Noise
// handshake"): the preamble and version reply, Noise_XX with its three payloads, the relay-key
// pin, and the split into a Transport. No I/O: each side takes record bodies and returns the
// record bodies to send, so the relay, the client and the test doubles only move bytes, and
// a change to the handshake itself (a post-quantum KEM mixed into the chaining key, carried
// in messages 1 and 2) changes this file and noise.ts, not them.

import { HandshakeState } from "./noise.ts";
import { Transport } from "./transport.ts";
import { ProtocolError } from "./errors.ts";
import { PREAMBLE_MAGIC, PROTOCOL_VERSION, concat } from "./framing.ts";
import { decodeLogin, decodeRelayHello, encodeLogin, encodeRelayHello, type RelayHello } from "./messages.ts";
import type { KeyPair, Rand } from "./primitives.ts";

/** `"SMSG" || version`: the start of the client's first record and the Noise prologue (§2.3). */
export const PREAMBLE = concat(PREAMBLE_MAGIC, Uint8Array.of(PROTOCOL_VERSION));
const PREAMBLE_LEN = PREAMBLE.length;
const EMPTY = new Uint8Array(0);

/** The keys of one side: its static pair, and an ephemeral pair pinned only by test vectors. */
export interface XxKeys {
  s: KeyPair;
  e?: KeyPair;
  rand?: Rand;
}

/**
 * Noise_XX (`-> e; <- e, ee, s, es; -> s, se`) as the initiator, with whatever prologue and
 * payloads it is given: the layer the cacophony vectors check. It is also the one place that
 * says which half of Split() goes which way: c1 carries initiator -> responder (Noise §5.2).
 */
export class XxInitiator {
  readonly #hs: HandshakeState;

  constructor(prologue: Uint8Array, keys: XxKeys) {
    this.#hs = new HandshakeState({ pattern: "XX", initiator: true, prologue, ...keys });
  }

  writeMessage1(payload: Uint8Array): Uint8Array {
    return this.#hs.writeMessage(payload);
  }

  /** The responder's payload; its static key is then remoteStatic. */
  readMessage2(message: Uint8Array): Uint8Array {
    return this.#hs.readMessage(message);
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

/** Noise_XX as the responder; see XxInitiator. */
export class XxResponder {
  readonly #hs: HandshakeState;

  constructor(prologue: Uint8Array, keys: XxKeys) {
    this.#hs = new HandshakeState({ pattern: "XX", initiator: false, prologue, ...keys });
  }

  readMessage1(message: Uint8Array): Uint8Array {
    return this.#hs.readMessage(message);
  }

  writeMessage2(payload: Uint8Array): Uint8Array {
    return this.#hs.writeMessage(payload);
  }

  /** The initiator's payload, its static key, and the transport (c2 carries responder -> initiator). */
  readMessage3(message: Uint8Array): { payload: Uint8Array; remoteStatic: Uint8Array; transport: Transport } {
    const payload = this.#hs.readMessage(message);
    const [c1, c2] = this.#hs.split();
    return { payload, remoteStatic: this.#hs.remoteStatic()!, transport: new Transport({ send: c2, receive: c1 }) };
  }
}

/** A body of exactly 5 bytes beginning "SMSG" is a version reply: a Noise message 2 is 109 bytes. */
function isVersionReply(record: Uint8Array): boolean {
  return record.length === PREAMBLE_LEN && PREAMBLE_MAGIC.every((b, i) => record[i] === b);
}

function hasMagic(record: Uint8Array): boolean {
  return record.length >= PREAMBLE_LEN && PREAMBLE_MAGIC.every((b, i) => record[i] === b);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

type ClientStep = "new" | "sent" | "hello" | "done" | "failed";
type RelayStep = "new" | "hello" | "done" | "failed";

export interface ClientHandshakeOptions {
  /** The user's login key, the Noise static key (§3.2). */
  login: KeyPair;
  /** A pinned ephemeral key pair, for test vectors only. */
  e?: KeyPair;
  rand?: Rand;
}

/**
 * The client's side: `start()` gives the first record, `readReply()` takes the relay's first
 * record and checks the relay key against the pin, `login()` gives message 3 and the
 * Transport. Any failure ends it: a half-run handshake cannot be resumed.
 */
export class ClientHandshake {
  readonly #xx: XxInitiator;
  #state: ClientStep = "new";
  #relayKey: Uint8Array | undefined;
  #relayVersion: number | undefined;

  constructor(o: ClientHandshakeOptions) {
    this.#xx = new XxInitiator(PREAMBLE, { s: o.login, e: o.e, rand: o.rand });
  }

  /** The relay's static key, once message 2 decrypted (also when it failed the pin). */
  get relayKey(): Uint8Array | undefined {
    return this.#relayKey;
  }

  /** The version a relay's version reply named (after readReply threw `bad-version`). */
  get relayVersion(): number | undefined {
    return this.#relayVersion;
  }

  /** The client's first record: preamble || Noise message 1 with an empty payload. */
  start(): Uint8Array {
    return this.#step("new", "sent", () => concat(PREAMBLE, this.#xx.writeMessage1(EMPTY)));
  }

  /**
   * The relay's answer to the first record. A version reply (§2.3) throws `bad-version` (the
   * relay's version is then relayVersion) or, naming our own version, `malformed`. Message 2
   * gives the RelayHello and the relay key; with a pin, a different key throws
   * `relay-key-changed` before message 3 exists, so that relay never learns who logs in (§3.2).
   */
  readReply(record: Uint8Array, pinned: Uint8Array | null): { hello: RelayHello; relayKey: Uint8Array } {
    return this.#step("sent", "hello", () => {
      if (isVersionReply(record)) {
        // Unauthenticated: anyone on the path can send it, so the caller shows it and retries.
        if (record[4] === PROTOCOL_VERSION) throw new ProtocolError("malformed", "a version reply with this client's own version");
        this.#relayVersion = record[4];
        throw new ProtocolError("bad-version", "the relay speaks another protocol version");
      }
      const hello = decodeRelayHello(this.#xx.readMessage2(record));
      const relayKey = this.#xx.remoteStatic!;
      this.#relayKey = relayKey;
      if (pinned && !equal(pinned, relayKey)) throw new ProtocolError("relay-key-changed", "the relay's key differs from the pin");
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
  /** A pinned ephemeral key pair, for test vectors only. */
  e?: KeyPair;
  rand?: Rand;
}

/** What to answer the client's first record with: message 2, or a version reply, then close. */
export type RelayFirstAnswer =
  | { kind: "message2"; record: Uint8Array }
  | { kind: "version-reply"; record: Uint8Array; clientVersion: number };

/**
 * The relay's side: `readFirst()` runs the first-record check of §2.3 and answers, `readLogin()`
 * takes message 3 and gives the Login, the client's static key and the Transport.
 */
export class RelayHandshake {
  readonly #o: RelayHandshakeOptions;
  #xx: XxResponder | undefined;
  #state: RelayStep = "new";

  constructor(o: RelayHandshakeOptions) {
    this.#o = o;
  }

  /** Throws `malformed`, with nothing to answer, for a missing preamble or a payload in message 1. */
  readFirst(record: Uint8Array): RelayFirstAnswer {
    return this.#step("new", "hello", () => {
      if (!hasMagic(record)) throw new ProtocolError("malformed", "no SMSG preamble");
      if (record[4] !== PROTOCOL_VERSION) {
        // In the clear, our own preamble: the client can then name both versions (§2.3).
        this.#state = "done";
        return { kind: "version-reply", record: PREAMBLE, clientVersion: record[4]! };
      }
      // Built only now: a record without the preamble costs the relay no hashing.
      const xx = new XxResponder(PREAMBLE, { s: this.#o.relayKey, e: this.#o.e, rand: this.#o.rand });
      const payload = xx.readMessage1(record.subarray(PREAMBLE_LEN));
      if (payload.length !== 0) throw new ProtocolError("malformed", "message 1 carries a payload");
      const hello = encodeRelayHello({
        version: PROTOCOL_VERSION,
        maxMessageBytes: this.#o.maxMessageBytes,
        heartbeatTimeout: this.#o.heartbeatTimeout,
      });
      this.#xx = xx;
      return { kind: "message2", record: xx.writeMessage2(hello) };
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
