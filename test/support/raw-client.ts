// A bare protocol client for tests that must do what the real client never does: send the
// same message twice, send garbage, log in with random keys. Built only from src/protocol.

import type { Socket } from "bun";
import { FramedSocket } from "../../src/net/framed-socket.ts";
import { ClientHandshake } from "../../src/protocol/handshake.ts";
import { encode, type Transport } from "../../src/protocol/transport.ts";
import type { Message, SignedSessionKey } from "../../src/protocol/messages.ts";
import { signSessionKey } from "../../src/protocol/keys.ts";
import { randomBytes, x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";
import { copyBytes } from "../../src/protocol/bytes.ts";
import { MLKEM768_SEED_LENGTH, type MlkemKeyPair } from "../../src/protocol/mlkem.ts";
import { mlkemKeyGenNoble } from "./noble-pq.ts";
import { waitFor } from "./harness.ts";

/** A raw TCP connection that records what it receives and whether it was closed. */
export class RawSocket {
  framed!: FramedSocket;
  records: Uint8Array[] = [];
  closed = false;

  static async connect(host: string, port: number): Promise<RawSocket> {
    const raw = new RawSocket();
    await Bun.connect<{ framed?: FramedSocket }>({
      hostname: host,
      port,
      socket: {
        open: (s) => {
          raw.framed = new FramedSocket(s as Socket<unknown>, {
            onRecord: (r) => raw.records.push(copyBytes(r)), // kept: the socket's read is released after this
            onClose: () => (raw.closed = true),
          });
          s.data = { framed: raw.framed };
        },
        data: (s, d) => s.data?.framed?.data(d),
        drain: (s) => s.data?.framed?.drain(),
        close: (s) => s.data?.framed?.socketClosed(),
        error: (s) => s.data?.framed?.socketClosed(),
      },
    });
    return raw;
  }

  /** Write bytes as they are, no framing. */
  writeRaw(bytes: Uint8Array): void {
    this.framed.sendRaw(bytes);
  }

  waitClosed(timeoutMs = 10_000): Promise<true> {
    return waitFor("the relay to close the raw connection", () => this.closed || undefined, timeoutMs, 20);
  }
}

/** A logged-in protocol session over a RawSocket. */
export class RawClient {
  raw: RawSocket;
  transport: Transport;
  relayKey: Uint8Array;
  maxMessageBytes: number;
  inbox: Message[] = [];
  #seen = 0;

  private constructor(raw: RawSocket, transport: Transport, relayKey: Uint8Array, maxMessageBytes: number) {
    this.raw = raw;
    this.transport = transport;
    this.relayKey = relayKey;
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Handshake and log in; resolves with the login result's status either way. */
  static async login(host: string, port: number, user: string, login: KeyPair, invite?: Uint8Array): Promise<{ client: RawClient; status: string; reason: string }> {
    const raw = await RawSocket.connect(host, port);
    const hs = new ClientHandshake({ login });
    raw.framed.send(await hs.start());
    await waitFor("message 2", () => raw.records.length >= 1 || raw.closed || undefined);
    const { hello, relayKey } = await hs.readReply(raw.records[0]!, null);
    const { record, transport } = hs.login(user, invite);
    raw.framed.send(record);
    const client = new RawClient(raw, transport, relayKey, hello.maxMessageBytes);
    client.#seen = 1;
    const result = await client.next((m) => m.t === "loginResult");
    return { client, status: result.t === "loginResult" ? result.status : "?", reason: result.t === "loginResult" ? result.reason : "" };
  }

  /** One record carrying m alone. */
  send(m: Message): void {
    this.raw.framed.send(this.transport.sealAll([encode(m)])[0]!);
  }

  /** One record carrying these messages as a BATCH (SPEC.md §4.4). */
  sendBatch(ms: Message[]): void {
    const records = this.transport.sealAll(ms.map(encode));
    if (records.length !== 1) throw new Error("these messages do not fit one record");
    this.raw.framed.send(records[0]!);
  }

  /** One record of any plaintext, sealed in the session's sequence. */
  sendPlaintext(plaintext: Uint8Array): void {
    this.raw.framed.send(this.transport.send.encryptWithAd(new Uint8Array(0), plaintext));
  }

  #drain(): void {
    while (this.#seen < this.raw.records.length) {
      this.inbox.push(...this.transport.open(this.raw.records[this.#seen++]!));
    }
  }

  /** The next message (not seen before by next) that matches. */
  async next(match: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    return waitFor("a message from the relay", () => {
      this.#drain();
      const i = this.inbox.findIndex(match);
      if (i < 0) return undefined;
      return this.inbox.splice(i, 1)[0];
    }, timeoutMs, 10);
  }

  /**
   * Publish a fresh signed hybrid session key (SPEC.md §5.1), as the real client does after
   * login. The ML-KEM-768 half comes from the noble twin so that this stays synchronous.
   */
  publish(
    user: string,
    identitySeed: Uint8Array,
    identityPub: Uint8Array,
    now = Date.now(),
  ): { session: KeyPair; sessionKem: MlkemKeyPair; key: SignedSessionKey } {
    const session = x25519Generate();
    const { seed, encapsulationKey } = mlkemKeyGenNoble(randomBytes(MLKEM768_SEED_LENGTH));
    const key: SignedSessionKey = {
      identityPub,
      sessionPub: session.publicKey,
      sessionKemPub: encapsulationKey,
      issuedAt: now,
      sig: signSessionKey(identitySeed, user, session.publicKey, encapsulationKey, now),
    };
    this.send({ t: "publishKey", key });
    return { session, sessionKem: { seed, encapsulationKey }, key };
  }
}
