// The client's connection to its relay (SPEC.md §3, §4): Noise_XX initiator with the
// password-derived login key, relay-key pinning, login, a fresh signed session key per
// connection, heartbeats, and reconnecting by itself with backoff and jitter, to any of the
// addresses `--server` names (relay-addresses.ts): one that fails, the next is tried at once.

import type { Socket } from "bun";
import { FramedSocket } from "../net/framed-socket.ts";
import { ClientHandshake } from "../protocol/handshake.ts";
import type { Transport } from "../protocol/transport.ts";
import { Outgoing } from "../net/outgoing.ts";
import { PROTOCOL_VERSION } from "../protocol/framing.ts";
import {
  writeChunk,
  type Message,
  type MessageOf,
  type RelayHello,
  type SignedSessionKey,
} from "../protocol/messages.ts";
import { encodeRelayKey, signSessionKey } from "../protocol/keys.ts";
import { x25519Generate, type KeyPair } from "../protocol/primitives.ts";
import { mlkemEphemeral, type MlkemEphemeral } from "../protocol/mlkem.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { copyBytes, releaseBytes } from "../protocol/bytes.ts";
import type { IdentityChange } from "../protocol/identity-change.ts";
import { candidates, type Candidate, type HostPort } from "./relay-addresses.ts";

export interface ClientIdentity {
  user: string;
  login: KeyPair; // X25519, Noise static
  identity: { seed: Uint8Array; publicKey: Uint8Array }; // Ed25519
}

export type LinkState =
  | { kind: "connecting" }
  | { kind: "connected"; relayKey: string }
  | { kind: "retrying"; error: string; retryAt: number }
  | { kind: "refused"; error: string } // will not retry by itself (relay key changed, replaced)
  | { kind: "stopped" };

/** An authenticated, published connection: what the rest of the client sends through. */
export class Link {
  readonly relayKey: Uint8Array;
  readonly hello: RelayHello;
  readonly session: KeyPair; // this connection's X25519 session key; dies with it
  readonly sessionKem: MlkemEphemeral; // its ML-KEM-768 half (SPEC.md §5.1); dies with it too
  readonly sessionKey: SignedSessionKey;
  /** The keys this connection logged in with (during a password change, old or new). */
  readonly id: ClientIdentity;
  #framed: FramedSocket;
  #out: Outgoing;
  #req = 1;
  #waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  #written: (() => void)[] = [];
  closed = false;

  constructor(
    framed: FramedSocket,
    transport: Transport,
    relayKey: Uint8Array,
    hello: RelayHello,
    session: KeyPair,
    sessionKem: MlkemEphemeral,
    sessionKey: SignedSessionKey,
    id: ClientIdentity,
  ) {
    this.id = id;
    this.#framed = framed;
    this.#out = new Outgoing(transport, (record) => framed.send(record));
    this.relayKey = relayKey;
    this.hello = hello;
    this.session = session;
    this.sessionKem = sessionKem;
    this.sessionKey = sessionKey;
  }

  /** Queue m for the relay; what is posted in one turn leaves in as few records as fit. */
  post(m: Message): boolean {
    if (this.closed) return false;
    this.#out.post(m);
    return true;
  }

  /** Bytes posted and not yet taken by the kernel: still to seal, sealed, or refused by write(). */
  get queuedBytes(): number {
    return this.#out.waitingBytes + this.#framed.queuedBytes;
  }

  /** Resolves when the kernel next takes queued bytes, or when the link is gone. */
  written(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => this.#written.push(r));
  }

  /** The socket's writer handed bytes to the kernel (or the link closed): wake who waits. */
  wroteSome(): void {
    const waiting = this.#written;
    this.#written = [];
    for (const r of waiting) r();
  }

  /** Queue a CHUNK whose data is in pieces (writeChunk): posted as post() posts. */
  postChunk(id: Uint8Array, seq: number, last: boolean, data: readonly Uint8Array[]): boolean {
    if (this.closed) return false;
    this.#out.postEncoded(writeChunk(id, seq, last, data));
    return true;
  }

  /** Settles answers to who/getKey; returns true when m was such an answer. */
  settle(m: Message): boolean {
    if (m.t !== "whoReply" && m.t !== "key" && m.t !== "changeResult" && m.t !== "changes" && m.t !== "bundle") return false;
    const w = this.#waiting.get(m.req);
    if (!w) return true;
    this.#waiting.delete(m.req);
    w.resolve(m);
    return true;
  }

  #request<R extends Message>(make: (req: number) => Message, timeoutMs = 15_000): Promise<R> {
    const req = this.#req++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(req);
        reject(new Error("the relay did not answer in time"));
      }, timeoutMs);
      this.#waiting.set(req, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as R);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      if (!this.post(make(req))) {
        clearTimeout(timer);
        this.#waiting.delete(req);
        reject(new Error("not connected to the relay"));
      }
    });
  }

  who(): Promise<string[]> {
    return this.#request<MessageOf<"whoReply">>((req) => ({ t: "who", req })).then((m) => m.users);
  }

  getKey(user: string): Promise<MessageOf<"key">> {
    return this.#request<MessageOf<"key">>((req) => ({ t: "getKey", req, user }));
  }

  /** A prekey bundle for mail to an offline user (SPEC.md §12.3). */
  getBundle(user: string): Promise<MessageOf<"bundle">> {
    return this.#request<MessageOf<"bundle">>((req) => ({ t: "getBundle", req, user }));
  }

  /** The user's identity-change statements the relay keeps (SPEC.md §5.5). */
  getChanges(user: string): Promise<IdentityChange[]> {
    return this.#request<MessageOf<"changes">>((req) => ({ t: "getChanges", req, user })).then((m) => m.changes);
  }

  /** Ask the relay to adopt a new registration code (a password change, SPEC.md §3.3). */
  changeCode(code: Uint8Array, change: IdentityChange): Promise<MessageOf<"changeResult">> {
    return this.#request<MessageOf<"changeResult">>((req) => ({ t: "changeCode", req, code, change }));
  }

  failPending(): void {
    this.closed = true;
    // Never answer for the relay: a lost link is "not connected", not "no such user".
    for (const w of this.#waiting.values()) w.reject(new Error("the connection to the relay was lost"));
    this.#waiting.clear();
    this.wroteSome();
  }

  close(): void {
    this.#framed.close("client closing");
  }
}

export interface RelayClientOptions {
  host: string;
  port: number;
  /** Every address given (`--server A,B,...`); without it, host and port alone. */
  servers?: HostPort[];
  id: ClientIdentity;
  heartbeat: number; // seconds
  maxBackoff: number; // seconds
  /** The pinned relay key, if any; null on first contact. */
  pinned(): Uint8Array | null;
  /** First contact: remember this key. */
  pin(key: Uint8Array): void;
  onState(s: LinkState): void;
  onUp(link: Link): void;
  onDown(link: Link): void;
  onMessage(link: Link, m: Message): void;
  now?: () => number;
  random?: () => number;
  /** A one-time invite (`client --invite`): sent at login until one succeeds (SPEC.md §3.3). */
  invite?: Uint8Array;
  /**
   * A password change in progress (CLIENT.md §1.6): the other keys to log in with when the
   * relay refuses `id` (it may have adopted the new code before the change was committed here).
   */
  alternate?: ClientIdentity;
}

export class RelayClient {
  #o: RelayClientOptions;
  #attempt = 0;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #framed: FramedSocket | undefined;
  #link: Link | undefined;
  #state: LinkState = { kind: "connecting" };
  #invite: Uint8Array | undefined;
  #round: Candidate[] = []; // this round's addresses not tried yet
  #resolving = false;
  #lastFailed: string | undefined; // tried last in the next round
  #connectedTo: string | undefined;
  #useAlternate = false;

  constructor(o: RelayClientOptions) {
    this.#o = o;
    this.#invite = o.invite;
  }

  get state(): LinkState {
    return this.#state;
  }
  get link(): Link | undefined {
    return this.#link;
  }
  /** The address of the relay (node) logged in to now, HOST:PORT; undefined when not connected. */
  get connectedTo(): string | undefined {
    return this.#connectedTo;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    this.#framed?.close("client stopping");
    this.#setState({ kind: "stopped" });
  }

  /** Try again now (after the person fixed what was wrong, e.g. accepted a new relay key). */
  retryNow(): void {
    if (this.#stopped || this.#framed || this.#resolving) return;
    clearTimeout(this.#timer);
    this.#attempt = 0;
    this.#connect();
  }

  #setState(s: LinkState): void {
    this.#state = s;
    this.#o.onState(s);
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    if (this.#state.kind !== "retrying") this.#setState({ kind: "connecting" });
    const next = this.#round.shift();
    if (next) return this.#dial(next);
    // A new round: names resolved again (a cluster's records may have changed), shuffled.
    this.#resolving = true;
    void candidates(this.#o.servers ?? [{ host: this.#o.host, port: this.#o.port }], this.#lastFailed).then((round) => {
      this.#resolving = false;
      if (this.#stopped) return;
      this.#round = round;
      this.#dial(this.#round.shift()!);
    });
  }

  #dial(c: Candidate): void {
    if (this.#stopped) return;
    const o = this.#o;
    const now = o.now ?? Date.now;
    const id = this.#useAlternate && o.alternate ? o.alternate : o.id;
    // "keying": message 2 is being read (ML-KEM decapsulation is asynchronous).
    let phase: "msg2" | "keying" | "result" | "up" = "msg2";
    let hs: ClientHandshake | undefined;
    // What the handshake gave: set once message 3 is sent.
    let shook: { hello: RelayHello; relayKey: Uint8Array; transport: Transport; sessionKem: MlkemEphemeral } | undefined;
    let lastHeard = now();
    let failure: { error: string; retry: boolean; slow?: boolean } | undefined;
    let framed: FramedSocket;

    const giveUp = (error: string, retry: boolean, slow = false): void => {
      failure ??= { error, retry, slow };
      framed?.close(error);
    };

    // One message from the relay, in the order it came (a record may carry several).
    const onMessage = (m: Message): void => {
      if (phase === "result") {
        if (m.t !== "loginResult") throw new ProtocolError("malformed", "expected a login result");
        if (m.status !== "ok") {
          if (m.status === "auth-failed" && o.alternate) {
            // Which code the relay holds is unknown after an interrupted change: try the other.
            this.#useAlternate = !this.#useAlternate;
            if (this.#useAlternate) {
              this.#round.unshift(c);
              return giveUp("the relay refused the login; trying the other password of the change", true);
            }
          }
          const why =
            m.status === "auth-failed"
              ? `the relay refused the login of ${o.id.user}: the password is wrong, or the user is not registered or not yet approved (registration code: run \`smsg register-code --user ${o.id.user}\`)`
              : m.status === "rate-limited"
                ? "the relay is limiting logins from this address after failed attempts; retrying later"
                : m.status === "disabled"
                  ? `the operator disabled the account ${o.id.user}`
                  : `the relay refused the login (${m.status}: ${m.reason})`;
          return giveUp(why, true, true);
        }
        this.#invite = undefined; // spent, or not needed: the relay knows our code now
        const session = x25519Generate();
        const sessionKem = shook!.sessionKem;
        const issuedAt = now();
        const sessionKey: SignedSessionKey = {
          identityPub: id.identity.publicKey,
          sessionPub: session.publicKey,
          sessionKemPub: sessionKem.encapsulationKey,
          issuedAt,
          sig: signSessionKey(id.identity.seed, id.user, session.publicKey, sessionKem.encapsulationKey, issuedAt),
        };
        const link = new Link(framed, shook!.transport, shook!.relayKey, shook!.hello, session, sessionKem, sessionKey, id);
        link.post({ t: "publishKey", key: sessionKey });
        this.#link = link;
        this.#attempt = 0;
        this.#connectedTo = c.label;
        this.#round = []; // a later reconnection starts a new round
        phase = "up";
        this.#setState({ kind: "connected", relayKey: encodeRelayKey(shook!.relayKey) });
        o.onUp(link);
        return;
      }
      if (m.t === "heartbeat") return;
      if (m.t === "error") {
        // Another client of ours took over: reconnecting would push it out in turn, forever.
        if (m.code === "replaced") return giveUp(`another client logged in as ${o.id.user}; this one stopped`, false);
        return giveUp(`the relay closed the connection: ${m.reason}`, true);
      }
      const link = this.#link!;
      if (link.settle(m)) return;
      o.onMessage(link, m);
    };

    const onRecord = (rec: Uint8Array): void => {
      lastHeard = now();
      try {
        if (phase === "msg2") {
          phase = "keying";
          void readReply(copyBytes(rec)); // read across an await: the socket's read is released once we return
          return;
        }
        // The relay has nothing to say before it has message 3.
        if (phase === "keying") throw new ProtocolError("malformed", "a record before message 3");
        const { plaintext, messages } = shook!.transport.openPlaintext(rec);
        releaseBytes(rec); // opened into a new buffer: the record is ours and done with
        for (const m of messages) {
          if (framed.closed) return; // given up: the rest of the record is not acted on
          onMessage(m);
        }
        // A record of one CHUNK (an attachment's 60 KiB): the inbound side keeps nothing of
        // it (what waits is copied), so its plaintext goes now, not at the next collection.
        if (messages.length === 1 && messages[0]!.t === "chunk") releaseBytes(plaintext);
      } catch (e) {
        if (phase === "msg2") {
          const f = handshakeFailure(e, hs!, o.pinned());
          return giveUp(f.error, f.retry);
        }
        giveUp(`bad data from the relay (${e instanceof ProtocolError ? e.code : String(e)})`, true);
      }
    };

    const readReply = async (rec: Uint8Array): Promise<void> => {
      const mine = hs!;
      const pinned = o.pinned();
      try {
        // The session key's ML-KEM-768 half is generated (natively, asynchronously) while
        // message 2 is read, so that LOGIN_RESULT ok can be answered with PUBLISH_KEY at once.
        const [reply, sessionKem] = await Promise.all([mine.readReply(rec, pinned), mlkemEphemeral()]);
        if (framed.closed) return; // given up or closed while decapsulating
        const login = mine.login(o.id.user, this.#invite);
        framed.send(login.record);
        shook = { ...reply, transport: login.transport, sessionKem };
        hs = undefined;
        if (!pinned) o.pin(reply.relayKey);
        phase = "result";
      } catch (e) {
        if (framed.closed) return;
        const f = handshakeFailure(e, mine, o.pinned());
        giveUp(f.error, f.retry);
      }
    };

    const onClose = (reason: string): void => {
      clearInterval(this.#heartbeat);
      this.#framed = undefined;
      this.#connectedTo = undefined;
      const link = this.#link;
      this.#link = undefined;
      if (link) {
        link.failPending();
        o.onDown(link);
      }
      if (this.#stopped) return;
      const f = failure ?? { error: phase === "up" ? `connection to the relay lost (${reason})` : `cannot reach the relay at ${c.label} (${reason})`, retry: true };
      if (!f.retry) {
        this.#setState({ kind: "refused", error: f.error });
        return;
      }
      this.#lastFailed = c.label;
      // Another address of this round, at once: a cluster node down is not a reason to wait.
      // Not after a refused login, which every node would refuse alike.
      if (phase !== "up" && !f.slow && this.#round.length > 0) {
        this.#timer = setTimeout(() => this.#connect(), 0);
        return;
      }
      this.#round = [];
      const delay = this.#backoff(f.slow === true);
      this.#setState({ kind: "retrying", error: f.error, retryAt: now() + delay });
      this.#timer = setTimeout(() => this.#connect(), delay);
    };

    type Data = { framed?: FramedSocket };
    Bun.connect<Data>({
      hostname: c.host,
      port: c.port,
      socket: {
        open: (socket) => {
          framed = new FramedSocket(socket as Socket<unknown>, { onRecord, onClose, onWritten: () => this.#link?.wroteSome() });
          socket.data = { framed };
          this.#framed = framed;
          const mine = (hs = new ClientHandshake({ login: id.login }));
          mine.start().then(
            (first) => {
              if (!framed.closed) framed.send(first);
            },
            (e: unknown) => giveUp(`handshake with the relay failed (${e instanceof ProtocolError ? e.code : String(e)})`, true),
          );
          clearInterval(this.#heartbeat);
          let lastSent = now();
          this.#heartbeat = setInterval(() => {
            // Beat at least three times per relay timeout, whatever --heartbeat says.
            const every = Math.min(o.heartbeat * 1000, ((shook?.hello.heartbeatTimeout ?? Infinity) * 1000) / 3);
            // Silence for 2.5 beats (the relay echoes each) means the path is dead (sleep,
            // lost network) though no FIN or RST arrived: reconnect rather than wait for TCP.
            const limit = phase === "up" ? every * 2.5 : 10_000;
            if (now() - lastHeard > limit) giveUp("the relay stopped answering heartbeats", true);
            else if (phase === "up" && now() - lastSent >= every) {
              lastSent = now();
              this.#link?.post({ t: "heartbeat" });
            }
          }, Math.max(50, Math.min(o.heartbeat * 250, 1000)));
        },
        data: (socket, data) => socket.data?.framed?.data(data),
        drain: (socket) => socket.data?.framed?.drain(),
        close: (socket) => socket.data?.framed?.socketClosed(),
        error: (socket, err) => socket.data?.framed?.socketClosed(err.message),
        connectError: (_socket, err) => {
          failure ??= { error: `cannot reach the relay at ${c.label} (${err.message})`, retry: true };
          onClose(err.message);
        },
      },
    }).catch((err: Error) => {
      // Bun reports some connect failures by rejecting instead of connectError.
      if (this.#framed || this.#timer) return;
      failure ??= { error: `cannot reach the relay at ${c.label} (${err.message})`, retry: true };
      onClose(err.message);
    });
  }

  #backoff(slow: boolean): number {
    const cap = this.#o.maxBackoff * 1000;
    const base = slow ? cap : Math.min(cap, 500 * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 20);
    const r = (this.#o.random ?? Math.random)();
    return Math.round(base * (0.5 + r / 2)); // jitter: many clients after a relay restart spread out
  }
}

/** What the person is shown when the handshake ended before message 3 (SPEC.md §2.3, §3.2). */
function handshakeFailure(e: unknown, hs: ClientHandshake, pinned: Uint8Array | null): { error: string; retry: boolean } {
  if (e instanceof ProtocolError && e.code === "bad-version") {
    // Nothing before the handshake is authenticated: anyone on the path can send a version
    // reply, so it is shown and retried with the usual backoff, never obeyed for good.
    const theirs = hs.relayVersion!;
    const older = theirs > PROTOCOL_VERSION ? "this client" : "the relay";
    return { error: `the relay speaks protocol version ${theirs}, this client ${PROTOCOL_VERSION}: upgrade ${older}`, retry: true };
  }
  if (e instanceof ProtocolError && e.code === "relay-key-changed" && pinned) {
    const got = encodeRelayKey(hs.relayKey!);
    return {
      error:
        `the relay's key changed: expected ${encodeRelayKey(pinned)}, got ${got}. ` +
        `This is what an impostor relay looks like. If the operator confirms the new key, ` +
        `restart the client with --relay-key ${got}`,
      retry: false,
    };
  }
  return { error: `handshake with the relay failed (${e instanceof ProtocolError ? e.code : String(e)})`, retry: true };
}

