// A hostile relay for tests (SECURITY.md section 5). In process, on 127.0.0.1, it speaks the
// real protocol as the relay (SPEC.md §2–§6: Noise_XXhfs responder with a key of its own, login
// against registration codes it is given, WHO, WATCH, GET_KEY, routed transfers, heartbeats)
// and routes like the honest relay unless a test's hooks tell it to drop, alter, re-route,
// replay or forge, or its `kem` setting tells it to strip, swap or corrupt the ML-KEM part of
// the handshake (§3.1); with `mailbox` on it keeps mail for offline users (§12) and hands
// it out when a test says, with bundles a hook may alter; hooks can also post a KEY or DELIVER with the ML-KEM half of the
// hybrid session key and seal stripped (§5.1-§5.2, `classical`). It records every transport
// plaintext it decrypts, to search for leaks.

import type { IdentityChange } from "../../src/protocol/identity-change.ts";
import type { Socket, TCPSocketListener } from "bun";
import { FramedSocket } from "../../src/net/framed-socket.ts";
import { PREAMBLE, RelayHandshake, XxResponder, type RelayFirstAnswer } from "../../src/protocol/handshake.ts";
import { NATIVE_KEM, type HandshakeKem } from "../../src/protocol/noise.ts";
import { mlkemEncaps, mlkemKeyGen } from "../../src/protocol/mlkem.ts";
import type { Transport } from "../../src/protocol/transport.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/framing.ts";
import { Writer } from "../../src/protocol/codec.ts";
import { decodeTransportPlaintext, encodeLogin, encodeMessage, encodeRelayHello, T, WINDOW_CHUNKS, type AckStatus, type KeyStatus, type Message, type MessageOf, type SignedSessionKey, idHex } from "../../src/protocol/messages.ts";
import { decodeRegistrationCode, encodeRelayKey, verifySessionKey } from "../../src/protocol/keys.ts";
import { x25519Generate } from "../../src/protocol/primitives.ts";
import { Interception, makeImpostor, sealAs, type Impostor } from "./impostor.ts";
import { waitFor } from "./harness.ts";
import { bytesEqual, copyBytes } from "../../src/protocol/bytes.ts";

const EMPTY = new Uint8Array(0);

export interface KeyAnswer {
  status: KeyStatus;
  key?: SignedSessionKey;
  /** Send the key in version 1's classical layout, its ML-KEM-768 half stripped (encodeClassical). */
  classical?: boolean;
}

/** One SEND the relay accepted from a sender, whatever it then did with it. */
export interface Transfer {
  id: Uint8Array;
  hex: string;
  from: string; // the sender's authenticated user id
  to: string; // the recipient the SEND named
  send: MessageOf<"send">;
  /** CHUNKs exactly as the sender sent them, for replay. */
  chunks: MessageOf<"chunk">[];
  /** Set when the relay handed out an impostor's key and the sender sealed to it. */
  interception?: Interception;
}

/** Mail a sender posted for an offline recipient (SPEC.md §12.3), as the relay holds it. */
export interface Held {
  id: Uint8Array;
  hex: string;
  from: string;
  to: string;
  post: MessageOf<"post">;
  chunks: MessageOf<"chunk">[];
  complete: boolean;
}

/** What GET_BUNDLE answers (SPEC.md §12.3): no signed prekey means status none. */
export interface BundleAnswer {
  signed?: SignedSessionKey;
  oneTime?: SignedSessionKey;
}

/** Where a hook wants something to go: a user's current connection, and what to post there. */
export interface Post {
  to: string;
  m: Message;
  /** A DELIVER in version 1's classical layout: no ML-KEM key, no ML-KEM ciphertext (encodeClassical). */
  classical?: boolean;
}

/**
 * What the relay does with the ML-KEM part of the handshake (SPEC.md §3.1). "strip": answers
 * message 1 as plain Noise_XX under the version-2 prologue, message 2 without the ciphertext
 * (what a relay or a network that removed the KEM would send). "swap": encapsulates to an
 * ML-KEM key of its own instead of the client's e1. "corrupt": the client's ciphertext with
 * one bit flipped, mixed with the secret of the honest one. Each must end the handshake.
 */
export type KemTrick = "honest" | "strip" | "swap" | "corrupt";

/** Each hook sees what the honest relay would do and returns what to do instead. */
export interface Hooks {
  onGetKey?(c: { asker: string; user: string; answer: KeyAnswer }): KeyAnswer;
  /**
   * "drop": swallow the SEND and its CHUNKs in silence (they are still recorded); "force":
   * deliver it even where the honest relay would refuse (a stale key, SPEC.md §6.2).
   */
  onSend?(c: { transfer: Transfer }): "pass" | "drop" | "force";
  /** The DELIVERs to post; the users named receive the CHUNKs too. [] drops the message. */
  onDeliver?(c: { transfer: Transfer; m: MessageOf<"deliver"> }): Post[];
  /** What to post to the transfer's recipients in place of this CHUNK. [] drops it. */
  onChunk?(c: { transfer: Transfer; m: MessageOf<"chunk"> }): Message[];
  /** The ACK to forward to the sender, or null to drop it. */
  onAck?(c: { transfer: Transfer; from: string; m: MessageOf<"ack"> }): MessageOf<"ack"> | null;
  /** The bundle to hand out; the honest one took `oneTime` off the stock already. */
  onBundle?(c: { asker: string; user: string; answer: BundleAnswer }): BundleAnswer;
  /** The relay has read a whole message sealed to an impostor; by default it ACKs `stored` with the real receipt. */
  onIntercept?(c: { transfer: Transfer; interception: Interception }): void;
}

interface Route {
  transfer: Transfer;
  sender: Conn;
  targets: Set<Conn>;
  /** An interception's CHUNKs, in order behind its asynchronous opening. */
  queue?: Promise<void>;
}

class Conn {
  readonly framed: FramedSocket;
  state: "hello" | "keying" | "login" | "authed" | "closed" = "hello";
  user = "";
  key: SignedSessionKey | undefined;
  watchAll = false;
  hs: RelayHandshake | undefined;
  transport: Transport | undefined;
  outgoing = new Map<string, Route>();
  incoming = new Map<string, Route>();
  /** POSTs being uploaded, and waiting mail handed to this connection, by hex id. */
  uploads = new Map<string, Held>();
  waitingIn = new Map<string, Held>();
  #relay: HostileRelay;

  constructor(relay: HostileRelay, framed: FramedSocket) {
    this.#relay = relay;
    this.framed = framed;
  }

  post(m: Message): void {
    this.postPlaintext(encodeMessage(m));
  }

  /** Any transport plaintext, well-formed or not. */
  postPlaintext(pt: Uint8Array): void {
    if (this.state !== "authed" || this.framed.closed) return;
    this.#relay.plaintexts.push(pt);
    const record = this.transport!.send.encryptWithAd(EMPTY, pt);
    this.#relay.rawRecords.push(record);
    this.framed.send(record);
  }
}

export class HostileRelay {
  /** The relay's own static key: clients pin it with --relay-key. */
  readonly staticKey = x25519Generate();
  readonly key = encodeRelayKey(this.staticKey.publicKey);
  hooks: Hooks = {};
  kem: KemTrick = "honest";
  /** First records (message 1) it answered, and handshakes that reached message 3. */
  firstRecords = 0;
  logins = 0;
  /** Every transport plaintext and handshake payload it decrypted or wrote, in order. */
  readonly plaintexts: Uint8Array[] = [];
  /** Every record body on the wire, both ways. */
  readonly rawRecords: Uint8Array[] = [];
  readonly transfers: Transfer[] = [];
  /** Every ACK a client sent, whether or not it was forwarded. */
  readonly acks: { from: string; m: MessageOf<"ack"> }[] = [];
  readonly errors: string[] = [];
  /** What it answers GET_CHANGES with, per user: a test puts forged statements here. */
  readonly statements = new Map<string, IdentityChange[]>();
  /** Keep mail for offline users (SPEC.md §12); off, GET_BUNDLE answers unavailable. */
  mailbox = false;
  /** Every POST it took, complete or not, delivered or not. */
  readonly held: Held[] = [];
  /** Prekeys as published: the signed ones in order (old ones kept), the one-time stock. */
  readonly prekeys = new Map<string, { signed: SignedSessionKey[]; stock: SignedSessionKey[]; handedOut: SignedSessionKey[] }>();
  #notices = new Map<string, MessageOf<"notice">[]>();
  /** The retention PREKEY_STATE tells clients, seconds: 0 makes them drop retired prekey secrets at once. */
  retention = 30 * 86400;
  #codes = new Map<string, Uint8Array>();
  #routes = new Map<string, Conn>();
  #conns = new Set<Conn>();
  #impostors = new Map<string, Impostor>();
  #listener: TCPSocketListener<{ conn?: Conn }>;

  constructor() {
    this.#listener = Bun.listen<{ conn?: Conn }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (socket) => {
          const framed = new FramedSocket(socket as Socket<unknown>, {
            onRecord: (r) => this.#onRecord(conn, r),
            onClose: () => this.#onClose(conn),
          });
          const conn = new Conn(this, framed);
          socket.data = { conn };
          this.#conns.add(conn);
        },
        data: (socket, d) => socket.data.conn?.framed.data(d),
        drain: (socket) => socket.data.conn?.framed.drain(),
        close: (socket) => socket.data.conn?.framed.socketClosed(),
        error: (socket, e) => socket.data.conn?.framed.socketClosed(e.message),
      },
    });
  }

  get port(): number {
    return this.#listener.port;
  }

  /** Accept `user` with this registration code (what `ctrl users add USER CODE` does). */
  register(user: string, code: string): void {
    this.#codes.set(user, decodeRegistrationCode(code));
  }

  /** The session key `user` published on their current connection. */
  publishedKey(user: string): SignedSessionKey | undefined {
    return this.#routes.get(user)?.key;
  }

  waitOnline(user: string, timeoutMs = 20_000): Promise<SignedSessionKey> {
    return waitFor(`${user} to publish a session key at the hostile relay`, () => this.publishedKey(user), timeoutMs, 20);
  }

  /** One stable impostor per user id: its own identity key, signing session keys for that id. */
  impostor(user: string): Impostor {
    let i = this.#impostors.get(user);
    if (!i) this.#impostors.set(user, (i = makeImpostor(user)));
    return i;
  }

  /** Post any message to `user`'s current connection; false when they have none. */
  post(user: string, m: Message): boolean {
    const c = this.#routes.get(user);
    c?.post(m);
    return c !== undefined;
  }

  forgeAck(toSender: string, id: Uint8Array, status: AckStatus, receipt: Uint8Array = new Uint8Array(32)): void {
    this.post(toSender, { t: "ack", id, status, receipt });
  }

  /** Post a recorded transfer again, DELIVER and CHUNKs as the sender sent them, to `user`. */
  replay(t: Transfer, user: string): void {
    this.post(user, deliverOf(t));
    for (const c of t.chunks) this.post(user, c);
  }

  /** A whole message sealed by an impostor to `to`'s current session key, posted to them. */
  async forge(args: { as: Impostor; to: string; id: Uint8Array; plaintext: Uint8Array }): Promise<{ receipt: Uint8Array }> {
    const recipientKey = this.publishedKey(args.to);
    if (!recipientKey) throw new Error(`${args.to} is not online at the hostile relay`);
    const { deliver, chunks, receipt } = await sealAs({ ...args, recipientKey });
    if (chunks.length > WINDOW_CHUNKS) throw new Error("forge: keep forged messages within one window of chunks");
    this.post(args.to, deliver);
    for (const c of chunks) this.post(args.to, c);
    return { receipt };
  }

  /** The ACKs `from` sent for message `hex`, as they arrive. */
  acksFrom(from: string, hex: string): AckStatus[] {
    return this.acks.filter((a) => a.from === from && Buffer.from(a.m.id).toString("hex") === hex).map((a) => a.m.status);
  }

  /** Waits for `from`'s first n ACKs for message `hex`, whatever they say, and returns them. */
  answers(from: string, hex: string, n = 1, timeoutMs = 20_000): Promise<AckStatus[]> {
    return waitFor(`${from} to send ${n} ACK(s) for ${hex}`, () => {
      const a = this.acksFrom(from, hex);
      return a.length >= n ? a : undefined;
    }, timeoutMs, 20);
  }

  transfersOf(hex: string): Transfer[] {
    return this.transfers.filter((t) => t.hex === hex);
  }

  /** Whether these bytes occur in what the relay decrypted (or, with "raw", in the records on the wire). */
  saw(needle: string | Uint8Array, where: "plaintext" | "raw" = "plaintext"): boolean {
    const n = typeof needle === "string" ? Buffer.from(needle, "utf8") : Buffer.from(needle);
    return Buffer.concat(where === "raw" ? this.rawRecords : this.plaintexts).indexOf(n) >= 0;
  }

  /**
   * End a transfer with SEND_FAILED to the sender and ABORT to whoever got its DELIVER. With
   * "aborted" this is what the honest relay does when nothing moved (SPEC.md §6.4).
   */
  failTransfer(hexId: string, reason: MessageOf<"sendFailed">["reason"] = "aborted"): void {
    for (const c of this.#conns) {
      const r = c.outgoing.get(hexId);
      if (!r) continue;
      this.#end(r);
      for (const t of r.targets) t.post({ t: "abort", id: r.transfer.id });
      c.post({ t: "sendFailed", id: r.transfer.id, reason });
    }
  }

  /** Hand `user` the waiting mail (all complete uploads for them, or these), DELIVER and CHUNKs. */
  deliverWaiting(user: string, which: Held[] = this.held.filter((h) => h.to === user && h.complete)): number {
    const c = this.#routes.get(user);
    if (!c) return 0;
    for (const h of which) {
      c.waitingIn.set(h.hex, h);
      const p = h.post;
      c.post({ t: "deliver", id: p.id, from: h.from, size: p.size, senderKey: p.senderKey, recipientSessionPub: p.recipientSessionPub, enc: p.enc, kemCiphertext: p.kemCiphertext });
      for (const ch of h.chunks) c.post(ch);
    }
    return which.length;
  }

  /** Keep a NOTICE for `sender`: posted now if connected, else when they next publish. */
  notice(sender: string, n: MessageOf<"notice">): void {
    if (this.post(sender, n)) return;
    const list = this.#notices.get(sender) ?? [];
    list.push(n);
    this.#notices.set(sender, list);
  }

  /** Cut `user`'s connection, as a restart or a network fault would. */
  disconnect(user: string): void {
    this.#routes.get(user)?.framed.close("hostile relay disconnects");
  }

  stop(): Promise<number> {
    for (const c of this.#conns) c.framed.close("hostile relay stopping");
    this.#listener.stop(true);
    return Promise.resolve(0);
  }

  // --- the protocol, as the relay ---

  #onRecord(c: Conn, view: Uint8Array): void {
    // Kept (rawRecords, message 1 read across an await): the socket's read is released after this.
    const record = copyBytes(view);
    this.rawRecords.push(record);
    try {
      if (c.state === "hello") return this.#onHello(c, record);
      if (c.state === "keying") throw new Error("a record before message 2");
      if (c.state === "login") return this.#onLogin(c, record);
      if (c.state !== "authed") return;
      const pt = c.transport!.receive.decryptWithAd(EMPTY, record);
      this.plaintexts.push(pt);
      for (const m of decodeTransportPlaintext(pt)) this.#onMessage(c, m);
    } catch (e) {
      this.errors.push(`${c.user || "?"}: ${e instanceof Error ? e.message : String(e)}`);
      c.framed.close("protocol error");
    }
  }

  #onHello(c: Conn, record: Uint8Array): void {
    c.state = "keying";
    void this.#answerHello(c, record).catch((e: unknown) => {
      this.errors.push(`?: ${e instanceof Error ? e.message : String(e)}`);
      c.framed.close("protocol error");
    });
  }

  async #answerHello(c: Conn, record: Uint8Array): Promise<void> {
    const hello = { maxMessageBytes: 2 ** 31, heartbeatTimeout: 90 };
    const payload = encodeRelayHello({ version: PROTOCOL_VERSION, ...hello });
    let message2: Uint8Array;
    if (this.kem === "strip") {
      // Plain XX: message 1's e1 is read as an unencrypted payload and ignored.
      const xx = new XxResponder(PREAMBLE, { s: this.staticKey }, "XX");
      xx.readMessage1(record.subarray(PREAMBLE.length));
      message2 = await xx.writeMessage2(payload);
      c.hs = undefined; // a message 3 cannot follow: the client refuses message 2
    } else {
      const hs = new RelayHandshake({ relayKey: this.staticKey, ...hello, kem: await this.#kemFor(this.kem) });
      const answer: RelayFirstAnswer = await hs.readFirst(record);
      if (answer.kind !== "message2") throw new Error("no preamble"); // another version: closed without a reply
      message2 = answer.record;
      c.hs = hs;
    }
    if (c.state !== "keying") return; // closed meanwhile
    this.firstRecords++;
    this.plaintexts.push(payload);
    this.rawRecords.push(message2);
    c.framed.send(message2);
    c.state = "login";
  }

  async #kemFor(trick: Exclude<KemTrick, "strip">): Promise<HandshakeKem> {
    if (trick === "honest") return NATIVE_KEM;
    if (trick === "swap") {
      const own = await mlkemKeyGen();
      return { ...NATIVE_KEM, encapsulate: () => mlkemEncaps(own.encapsulationKey) };
    }
    return {
      ...NATIVE_KEM,
      encapsulate: async (ek) => {
        const honest = await mlkemEncaps(ek);
        honest.ciphertext[0]! ^= 0x01;
        return honest;
      },
    };
  }

  #onLogin(c: Conn, record: Uint8Array): void {
    if (!c.hs) throw new Error("message 3 after a stripped handshake");
    const { user, invite, loginKey, transport } = c.hs.readLogin(record);
    this.logins++;
    // The Login as it was decrypted: decodeLogin is strict, so encoding it again gives its bytes.
    this.plaintexts.push(encodeLogin(user, invite));
    c.transport = transport;
    c.hs = undefined;
    c.state = "authed";
    c.user = user;
    const code = this.#codes.get(user);
    if (!code || !bytesEqual(code, loginKey)) {
      c.post({ t: "loginResult", status: "auth-failed", reason: "not registered at the hostile relay" });
      c.state = "closed";
      c.framed.end();
      return;
    }
    c.post({ t: "loginResult", status: "ok", reason: "" });
  }

  #onMessage(c: Conn, m: Message): void {
    switch (m.t) {
      case "heartbeat":
        return c.post({ t: "heartbeat" });
      case "publishKey":
        return this.#onPublish(c, m.key);
      case "who":
        return c.post({ t: "whoReply", req: m.req, users: [...this.#routes.keys()].sort() });
      case "watch":
        c.watchAll = m.all;
        return;
      case "getKey": {
        const route = this.#routes.get(m.user);
        const honest: KeyAnswer = route?.key
          ? { status: "online", key: route.key }
          : { status: this.#codes.has(m.user) ? "offline" : "unknown" };
        const a = this.hooks.onGetKey?.({ asker: c.user, user: m.user, answer: honest }) ?? honest;
        const key: MessageOf<"key"> =
          a.status === "online" ? { t: "key", req: m.req, user: m.user, status: "online", key: a.key! } : { t: "key", req: m.req, user: m.user, status: a.status };
        return a.classical ? c.postPlaintext(encodeClassical(key)) : c.post(key);
      }
      case "getChanges":
        return c.post({ t: "changes", req: m.req, user: m.user, changes: this.statements.get(m.user) ?? [] });
      case "publishPrekeys": {
        if (!this.mailbox) return;
        const p = this.prekeys.get(c.user) ?? { signed: [], stock: [], handedOut: [] };
        if (!p.signed.some((k) => bytesEqual(k.sessionPub, m.signed.sessionPub))) p.signed.push(m.signed);
        if (m.replace) p.stock = [];
        p.stock.push(...m.oneTime);
        this.prekeys.set(c.user, p);
        return this.#prekeyState(c);
      }
      case "post": {
        if (!this.mailbox) return c.post({ t: "sendFailed", id: m.id, reason: "no-mailbox" });
        const h: Held = { id: m.id, hex: idHex(m.id), from: c.user, to: m.to, post: m, chunks: [], complete: false };
        this.held.push(h);
        c.uploads.set(h.hex, h);
        return;
      }
      case "noticeDone":
        return;
      // Without `mailbox`, a relay that keeps nothing (SPEC.md §12): mail to someone offline waits at the sender.
      case "getBundle": {
        if (!this.mailbox) return c.post({ t: "bundle", req: m.req, user: m.user, status: "unavailable" });
        const p = this.prekeys.get(m.user);
        const honest: BundleAnswer = p ? { signed: p.signed[p.signed.length - 1], oneTime: p.stock.shift() } : {};
        if (honest.oneTime) p!.handedOut.push(honest.oneTime);
        const a = this.hooks.onBundle?.({ asker: c.user, user: m.user, answer: honest }) ?? honest;
        if (!a.signed) return c.post({ t: "bundle", req: m.req, user: m.user, status: "none" });
        return c.post(a.oneTime ? { t: "bundle", req: m.req, user: m.user, status: "ok", signed: a.signed, oneTime: a.oneTime } : { t: "bundle", req: m.req, user: m.user, status: "ok", signed: a.signed });
      }
      case "send":
        return this.#onSend(c, m);
      case "chunk":
        return this.#onChunk(c, m);
      case "window": {
        c.incoming.get(idHex(m.id))?.sender.post(m);
        return;
      }
      case "ack":
        return this.#onAck(c, m);
      case "abort": {
        const r = c.outgoing.get(idHex(m.id));
        if (!r) return;
        this.#end(r);
        for (const t of r.targets) t.post(m);
        return;
      }
      default:
        throw new Error(`a client may not send ${m.t}`);
    }
  }

  #onPublish(c: Conn, key: SignedSessionKey): void {
    verifySessionKey(key.identityPub, c.user, key.sessionPub, key.sessionKemPub, key.issuedAt, key.sig);
    c.key = key;
    const old = this.#routes.get(c.user);
    if (old === c) return;
    this.#routes.set(c.user, c);
    if (old) {
      old.post({ t: "error", code: "replaced", reason: "replaced by a newer connection of the same user" });
      old.state = "closed";
      old.framed.end();
    } else {
      this.#presence(c.user, true);
    }
    if (this.mailbox) {
      this.#prekeyState(c);
      for (const n of this.#notices.get(c.user) ?? []) c.post(n);
      this.#notices.delete(c.user);
    }
  }

  #prekeyState(c: Conn): void {
    const p = this.prekeys.get(c.user);
    const signed = p?.signed[p.signed.length - 1];
    c.post({ t: "prekeyState", oneTime: p?.stock.length ?? 0, signedPub: signed?.sessionPub ?? new Uint8Array(32), retention: this.retention });
  }

  #presence(user: string, online: boolean): void {
    for (const c of this.#routes.values()) if (c.watchAll && c.user !== user) c.post({ t: "presence", user, online });
  }

  #onSend(c: Conn, m: MessageOf<"send">): void {
    const t: Transfer = { id: m.id, hex: idHex(m.id), from: c.user, to: m.to, send: m, chunks: [] };
    this.transfers.push(t);
    if (c.outgoing.has(t.hex)) return c.post({ t: "sendFailed", id: m.id, reason: "busy" });
    const r: Route = { transfer: t, sender: c, targets: new Set() };
    c.outgoing.set(t.hex, r);
    const verdict = this.hooks.onSend?.({ transfer: t }) ?? "pass";
    if (verdict === "drop") return;
    const impostor = [...this.#impostors.values()].find((i) => bytesEqual(i.session.publicKey, m.recipientSessionPub));
    if (impostor) {
      // Opening needs an ML-KEM decapsulation (asynchronous): CHUNKs queue behind it.
      r.queue = Interception.open(c.user, m, impostor).then(
        (ic) => void (t.interception = ic),
        (e: unknown) => void this.errors.push(`${c.user}: interception failed: ${e instanceof Error ? e.message : String(e)}`),
      );
      return;
    }
    const fail = (reason: MessageOf<"sendFailed">["reason"]): void => {
      c.outgoing.delete(t.hex);
      c.post({ t: "sendFailed", id: m.id, reason });
    };
    const dest = this.#routes.get(m.to);
    if (!dest?.key) return fail(this.#codes.has(m.to) ? "offline" : "unknown-user");
    if (verdict !== "force") {
      if (!c.key || !bytesEqual(c.key.sig, m.senderKey.sig)) return fail("stale-key");
      if (!bytesEqual(dest.key.sessionPub, m.recipientSessionPub)) return fail("stale-key");
    }
    const deliver = deliverOf(t);
    const posts = this.hooks.onDeliver?.({ transfer: t, m: deliver }) ?? [{ to: m.to, m: deliver }];
    for (const p of posts) {
      const target = this.#routes.get(p.to);
      if (!target) continue;
      target.incoming.set(t.hex, r);
      r.targets.add(target);
      if (p.classical && p.m.t === "deliver") target.postPlaintext(encodeClassical(p.m));
      else target.post(p.m);
    }
  }

  #onChunk(c: Conn, m: MessageOf<"chunk">): void {
    const r = c.outgoing.get(idHex(m.id));
    const up = c.uploads.get(idHex(m.id));
    if (!r && up) {
      up.chunks.push(m);
      if (!m.last) {
        if (up.chunks.length % 8 === 0) c.post({ t: "window", id: m.id, seq: up.chunks.length, limit: up.chunks.length + WINDOW_CHUNKS });
        return;
      }
      up.complete = true;
      c.uploads.delete(up.hex);
      c.post({ t: "held", id: m.id });
      return;
    }
    if (!r) return;
    const t = r.transfer;
    t.chunks.push(m);
    if (r.queue) {
      r.queue = r.queue.then(() => this.#intercept(r, m));
      return;
    }
    if (r.targets.size === 0) return; // dropped
    const out = this.hooks.onChunk?.({ transfer: t, m }) ?? [m];
    for (const target of r.targets) for (const o of out) target.post(o);
  }

  /** The relay is the recipient: it opens the chunks, keeps the window going, and reads it all. */
  #intercept(r: Route, m: MessageOf<"chunk">): void {
    const ic = r.transfer.interception;
    if (!ic) return; // it did not open
    let done: boolean;
    try {
      done = ic.chunk(m);
    } catch (e) {
      ic.error = e;
      this.#end(r);
      r.sender.post({ t: "ack", id: m.id, status: "rejected", receipt: new Uint8Array(32) });
      return;
    }
    if (!done) {
      if (r.transfer.chunks.length % (WINDOW_CHUNKS / 2) === 0) r.sender.post({ t: "window", id: m.id, seq: r.transfer.chunks.length, limit: r.transfer.chunks.length + WINDOW_CHUNKS });
      return;
    }
    this.#end(r);
    if (this.hooks.onIntercept) this.hooks.onIntercept({ transfer: r.transfer, interception: ic });
    else r.sender.post({ t: "ack", id: m.id, status: "stored", receipt: ic.receipt });
  }

  #onAck(c: Conn, m: MessageOf<"ack">): void {
    this.acks.push({ from: c.user, m });
    const h = c.waitingIn.get(idHex(m.id));
    if (h) {
      c.waitingIn.delete(h.hex);
      return this.notice(h.from, { t: "notice", id: h.id, to: c.user, kind: "receipt", status: m.status, receipt: m.receipt });
    }
    const r = c.incoming.get(idHex(m.id));
    if (!r) return;
    const out = this.hooks.onAck ? this.hooks.onAck({ transfer: r.transfer, from: c.user, m }) : m;
    if (out === null) return;
    this.#end(r);
    r.sender.post(out);
  }

  #end(r: Route): void {
    if (r.sender.outgoing.get(r.transfer.hex) === r) r.sender.outgoing.delete(r.transfer.hex);
    for (const t of r.targets) if (t.incoming.get(r.transfer.hex) === r) t.incoming.delete(r.transfer.hex);
  }

  #onClose(c: Conn): void {
    c.state = "closed";
    this.#conns.delete(c);
    for (const r of [...c.outgoing.values()]) {
      this.#end(r);
      for (const t of r.targets) t.post({ t: "abort", id: r.transfer.id });
    }
    for (const r of [...c.incoming.values()]) {
      this.#end(r);
      r.sender.post({ t: "sendFailed", id: r.transfer.id, reason: "recipient-gone" });
    }
    if (this.#routes.get(c.user) === c) {
      this.#routes.delete(c.user);
      this.#presence(c.user, false);
    }
  }
}

/** The DELIVER the honest relay makes of a SEND (SPEC.md §6.2). */
export function deliverOf(t: Transfer): MessageOf<"deliver"> {
  const s = t.send;
  return {
    t: "deliver",
    id: s.id,
    from: t.from,
    size: s.size,
    senderKey: s.senderKey,
    recipientSessionPub: s.recipientSessionPub,
    enc: s.enc,
    kemCiphertext: s.kemCiphertext,
  };
}

/**
 * A KEY (online) or DELIVER as version 1 laid it out, with the ML-KEM-768 half stripped: the
 * key without sessionKemPub (136 bytes), the DELIVER without kemCiphertext. What a relay that
 * wants a message sealed, or opened, with X25519 alone would have to send (SPEC.md §5.1).
 */
export function encodeClassical(m: MessageOf<"key"> | MessageOf<"deliver">): Uint8Array {
  const key = (w: Writer, k: SignedSessionKey): Writer => w.fixed(k.identityPub, 32).fixed(k.sessionPub, 32).u64(k.issuedAt).fixed(k.sig, 64);
  if (m.t === "key") {
    if (m.status !== "online" || !m.key) throw new Error("encodeClassical: only an online KEY has a key to strip");
    return key(new Writer().u8(T.key).u32(m.req).user(m.user).u8(0), m.key).finish();
  }
  const w = key(new Writer().u8(T.deliver).fixed(m.id, 16).user(m.from).u64(m.size), m.senderKey);
  return w.fixed(m.recipientSessionPub, 32).fixed(m.enc, 32).finish();
}


