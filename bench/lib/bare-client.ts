// A lean, callback-driven protocol client for load generation (SPEC.md §3, §4): Noise_XXhfs
// as initiator, Login, then Messages handed to a callback. Built only from src/protocol and
// the shared socket plumbing, like test/support/raw-client.ts, but without polling, so a
// generator process can drive thousands of them.

import type { Socket } from "bun";
import { FramedSocket } from "../../src/net/framed-socket.ts";
import { ClientHandshake } from "../../src/protocol/handshake.ts";
import type { HandshakeKem } from "../../src/protocol/noise.ts";
import type { Transport } from "../../src/protocol/transport.ts";
import { Outgoing } from "../../src/net/outgoing.ts";
import type { Message, SignedSessionKey } from "../../src/protocol/messages.ts";
import { signSessionKey } from "../../src/protocol/keys.ts";
import { x25519Generate, type KeyPair } from "../../src/protocol/primitives.ts";
import { mlkemKeyGen, type MlkemKeyPair } from "../../src/protocol/mlkem.ts";
import { copyBytes } from "../../src/protocol/bytes.ts";

export interface BareHandlers {
  onMessage?(m: Message): void;
  /** Instead of onMessage: each record's plaintext, undecoded (a generator that only counts). */
  onPlaintext?(plain: Uint8Array): void;
  onClose?(reason: string): void;
}

const EMPTY = new Uint8Array(0);

export class BareClient {
  readonly user: string;
  closed = false;
  #framed!: FramedSocket;
  #transport: Transport | undefined;
  #out: Outgoing | undefined;
  #handlers: BareHandlers;

  private constructor(user: string, handlers: BareHandlers) {
    this.user = user;
    this.#handlers = handlers;
  }

  /**
   * Connect, handshake and log in; resolves once LOGIN_RESULT says ok. `kem` replaces the
   * client's ML-KEM and `e` its X25519 ephemeral key (a generator's pools of pre-made keys:
   * bench/workers/login-churn.ts).
   */
  static async login(o: {
    host: string;
    port: number;
    user: string;
    login: KeyPair;
    handlers?: BareHandlers;
    kem?: HandshakeKem;
    e?: KeyPair;
  }): Promise<BareClient> {
    const c = new BareClient(o.user, o.handlers ?? {});
    let hs: ClientHandshake | undefined = new ClientHandshake({ login: o.login, kem: o.kem, e: o.e });
    const first = await hs.start(); // the ML-KEM key pair, before the connection exists
    return new Promise<BareClient>((resolve, reject) => {
      let loggedIn = false;
      const fail = (why: string) => {
        if (!loggedIn) reject(new Error(why));
      };
      const reply = async (rec: Uint8Array): Promise<void> => {
        try {
          const mine = hs!;
          hs = undefined;
          await mine.readReply(rec, null);
          if (c.closed) return;
          const login = mine.login(o.user);
          c.#framed.send(login.record);
          c.#transport = login.transport;
          c.#out = new Outgoing(c.#transport, (record) => c.#framed.send(record));
        } catch (e) {
          fail(`protocol error: ${String(e)}`);
          c.close();
        }
      };
      const onRecord = (rec: Uint8Array): void => {
        try {
          if (hs) return void reply(copyBytes(rec)); // read across an await: the socket's read is released after this
          if (!c.#transport) throw new Error("a record before message 3");
          if (loggedIn && c.#handlers.onPlaintext) {
            c.#handlers.onPlaintext(c.#transport.receive.decryptWithAd(EMPTY, rec));
            return;
          }
          for (const m of c.#transport!.open(rec)) {
            if (c.closed) return;
            if (!loggedIn) {
              if (m.t !== "loginResult" || m.status !== "ok") {
                fail(`login of ${o.user} refused: ${m.t === "loginResult" ? m.status : m.t}`);
                c.close();
                return;
              }
              loggedIn = true;
              resolve(c);
              continue;
            }
            c.#handlers.onMessage?.(m);
          }
        } catch (e) {
          fail(`protocol error: ${String(e)}`);
          c.close();
        }
      };
      const onClose = (reason: string): void => {
        c.closed = true;
        fail(`closed before login: ${reason}`);
        if (loggedIn) c.#handlers.onClose?.(reason);
      };
      type Data = { framed?: FramedSocket };
      Bun.connect<Data>({
        hostname: o.host,
        port: o.port,
        socket: {
          open(socket) {
            c.#framed = new FramedSocket(socket as Socket<unknown>, { onRecord, onClose });
            socket.data = { framed: c.#framed };
            c.#framed.send(first);
          },
          data: (socket, data) => socket.data?.framed?.data(data),
          drain: (socket) => socket.data?.framed?.drain(),
          close: (socket) => socket.data?.framed?.socketClosed(),
          error: (socket, err) => socket.data?.framed?.socketClosed(err.message),
          connectError: (_socket, err) => {
            c.closed = true;
            fail(`connect: ${err.message}`);
          },
        },
      }).catch((err: Error) => {
        c.closed = true;
        fail(`connect: ${err.message}`);
      });
    });
  }

  set handlers(h: BareHandlers) {
    this.#handlers = h;
  }

  post(m: Message): void {
    if (!this.closed) this.#out!.post(m);
  }

  /**
   * One record of a plaintext encoded beforehand (a Message's or a BATCH's bytes, as parts):
   * sealed and written now. What post() queued goes first, so nonces stay in order.
   */
  sendPlaintext(parts: readonly Uint8Array[], length: number): void {
    if (this.closed) return;
    this.#out!.flush();
    this.#framed.send(this.#transport!.send.encryptPartsWithAd(EMPTY, parts, length));
  }

  /** A fresh signed hybrid session key (SPEC.md §5.1), published as the real client does after login. */
  async publish(
    identity: { seed: Uint8Array; publicKey: Uint8Array },
    now = Date.now(),
  ): Promise<{ session: KeyPair; sessionKem: MlkemKeyPair; key: SignedSessionKey }> {
    const session = x25519Generate();
    const sessionKem = await mlkemKeyGen();
    const key: SignedSessionKey = {
      identityPub: identity.publicKey,
      sessionPub: session.publicKey,
      sessionKemPub: sessionKem.encapsulationKey,
      issuedAt: now,
      sig: signSessionKey(identity.seed, this.user, session.publicKey, sessionKem.encapsulationKey, now),
    };
    this.post({ t: "publishKey", key });
    return { session, sessionKem, key };
  }

  close(): void {
    this.closed = true;
    this.#framed?.close("bench client closing");
  }
}
