// One client connection at the relay (SPEC.md §3, §4): the Noise_XX responder, the login
// check against the directory, then the routed messages. A protocol violation closes this
// connection only; nothing a peer sends can throw past this class. A session whose unread
// output is over its share (SPEC.md §6.5) is not read from, and neither is a session whose
// messages it was handed for another that is over its share, until that output drains.

import { RelayHandshake, type RelayFirstAnswer } from "../protocol/handshake.ts";
import { encoded, type Transport } from "../protocol/transport.ts";
import type { Writer } from "../protocol/codec.ts";
import { Outgoing } from "../net/outgoing.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { copyBytes, releaseBytes } from "../protocol/bytes.ts";
import { WINDOW_CHUNKS, type ErrorCode, type LoginStatus, type Message, type MessageOf, type SignedSessionKey, idHex } from "../protocol/messages.ts";
import { verifySessionKey } from "../protocol/keys.ts";
import { decodeIdentityChange } from "../protocol/identity-change.ts";
import { ed25519VerifyNative } from "../protocol/primitives.ts";
import type { FramedHandlers, FramedSocket } from "../net/framed-socket.ts";
import type { Hub } from "./hub.ts";
import type { Directory } from "./directory.ts";
import type { KeyPair } from "./relay-key.ts";
import type { Log } from "./log.ts";
import type { WindowBudget } from "./window-budget.ts";
import { OUTPUT_LOW_WATER, type OutputBudget, type UserOutput } from "./output-budget.ts";
import { type Transfer, type TransferEnd } from "./transfer.ts";
import type { Mailbox } from "./mailbox.ts";

// "keying": message 1 read, message 2 awaiting the ML-KEM encapsulation (SPEC.md §3.1).
type State = "hello" | "keying" | "login" | "authed" | "closed";

/**
 * What a session needs of the relay it belongs to (RelayCore, which implements it): the
 * rules, budgets and routes it is held to. Declared here so that the core may know its
 * sessions without the sessions importing the core back.
 */
export interface SessionCore {
  readonly opts: { readonly maxMessageBytes: number; readonly heartbeatTimeout: number };
  readonly relayKey: KeyPair;
  readonly directory: Pick<Directory, "get" | "identityChanges">;
  readonly hub: Hub<TransferEnd>;
  readonly log: Log;
  readonly now: () => number;
  readonly output: OutputBudget;
  readonly windows: WindowBudget;
  readonly stats: { bytes: number };
  checkLogin(user: string, loginKey: Uint8Array, address: string, invite?: Uint8Array): { status: LoginStatus; reason: string };
  publish(s: Session): void;
  changeCode(s: Session, m: MessageOf<"changeCode">): void;
  watch(s: Session, all: boolean, users: string[]): void;
  startTransfer(from: Session, m: MessageOf<"send">): void;
  startPost(from: Session, m: MessageOf<"post">): void;
  /** Mail that waits at the relay (SPEC.md §12); undefined when the relay keeps none. */
  readonly mailbox: Mailbox | undefined;
  endTransfer(t: Transfer): void;
  sessionClosed(s: Session): void;
}

/**
 * WHO and GET_KEY a session may send before it publishes a session key. The reference client
 * publishes first; without this, sessions that never publish (and so never replace each
 * other) would let one account ask from every connection its address may open.
 */
export const MAX_REQUESTS_UNPUBLISHED = 8;
/** A WHO_REPLY must fit one record: 65519 bytes hold about 1900 longest ids. */
export const MAX_WHO_USERS = 1900;

/** What an idle session holds as its last record's messages: one empty list for them all. */
const NOTHING_HELD: readonly Message[] = [];
const NO_BYTES_HELD: readonly Uint8Array[] = [];

/** A session is its socket's FramedHandlers: no forwarding closures per connection. */
export class Session implements TransferEnd, FramedHandlers {
  readonly core: SessionCore;
  readonly sock: FramedSocket;
  readonly address: string;
  readonly pausable = true;
  readonly opened: number;
  state: State = "hello";
  user = "";
  sessionKey: SignedSessionKey | undefined;
  lastSeen: number;
  outgoing = new Map<string, Transfer>();
  incoming = new Map<string, Transfer>();
  watchAll = false;
  watching = new Set<string>();
  /** Set when the connection is over a limit: the login is answered busy with this. */
  refusal: string | undefined;
  /** When this session's own unread output went over its share; not read from since. */
  overSince: number | undefined;
  #hs: RelayHandshake | undefined;
  #transport: Transport | undefined;
  #out: Outgoing | undefined;
  #loginKey: Uint8Array | undefined;
  #account: UserOutput | undefined; // set at login: what this session owes is counted there
  #owed = 0; // bytes last counted
  #waitingOn = new Set<TransferEnd>(); // ends over their share that this one handed messages to
  #waiters = new Set<TransferEnd>(); // ends waiting for this one to drain
  #held: readonly Message[] = NOTHING_HELD; // a record's messages not acted on yet: the session paused midway
  #heldBytes: readonly Uint8Array[] = NO_BYTES_HELD; // each one's bytes as received, passed on as they came
  #heldAt = 0;
  #acting = false;
  #unpublishedRequests = 0;

  constructor(core: SessionCore, sock: FramedSocket, now: number) {
    this.core = core;
    this.sock = sock;
    this.address = sock.remoteAddress;
    this.opened = now;
    this.lastSeen = now;
  }

  /** The Noise static key this session logged in with (its user's registration code). */
  get loginKey(): Uint8Array | undefined {
    return this.#loginKey;
  }

  get authed(): boolean {
    return this.state === "authed";
  }

  /** Not read from now: its own output, or that of a session it handed messages to, is over its share. */
  get paused(): boolean {
    return this.overSince !== undefined || this.#waitingOn.size > 0;
  }

  /** Unread output counted against the budgets now, bytes. */
  get owed(): number {
    return this.#owed;
  }

  /** Queue m for the peer; what is posted in one turn leaves in as few records as fit. */
  post(m: Message, encoded?: Writer): boolean {
    if (this.state !== "authed" || !this.#out || this.sock.closed) return false;
    this.#out.post(m, encoded);
    // Counted at once, not only when the turn's batch is sealed: a record full of requests
    // stops being answered as soon as the answers are over the share.
    return this.#measure();
  }

  /**
   * Post m to another session on this one's behalf (a forwarded CHUNK, WINDOW, ACK, ABORT or
   * a DELIVER): if that session is over its share, this one is not read from until it
   * drains, so a recipient that does not read holds back its senders, not the relay's memory.
   * `encoded` is m's encoding, when the caller has it (Endpoint.post).
   */
  forward(to: TransferEnd, m: Message, encoded?: Writer): void {
    to.post(m, encoded);
    if (to === this || this.#waitingOn.has(to) || !to.holdBack(this)) return;
    this.#waitingOn.add(to);
    this.sock.pause();
  }

  holdBack(sender: TransferEnd): boolean {
    if (this.overSince === undefined || this.state !== "authed") return false;
    this.#waiters.add(sender);
    return true;
  }

  drained(end: TransferEnd): void {
    this.#waitingOn.delete(end);
    this.#act();
  }

  gone(sender: TransferEnd): void {
    this.#waiters.delete(sender);
  }

  /** The kernel took some of this session's output (its socket's FramedHandlers). */
  onWritten(): void {
    if (this.#measure()) this.core.mailbox?.pump(this);
  }

  #write(record: Uint8Array[]): void {
    if (this.sock.closed) return;
    this.sock.send(record);
    this.#measure();
  }

  /**
   * Count what this session owes its peer against the budgets (SPEC.md §6.5): over its share,
   * stop reading it; back down to the low-water mark, read it again; past the hard limit,
   * which only what others send it can reach, close it. False when it was closed.
   */
  #measure(): boolean {
    const account = this.#account;
    if (!account) return true; // before login: two handshake records at most
    const owed = this.sock.queuedBytes + (this.#out?.waitingBytes ?? 0);
    if (owed !== this.#owed) {
      this.core.output.add(account, owed - this.#owed);
      this.#owed = owed;
    }
    if (owed > this.core.output.hardLimit) {
      this.core.log.warn("slow-reader", { user: this.user, addr: this.address });
      this.#out?.drop();
      this.sock.close("slow reader");
      return false;
    }
    if (this.overSince === undefined) {
      if (owed > OUTPUT_LOW_WATER && this.core.output.over(account, owed)) {
        this.overSince = this.core.now();
        this.sock.pause();
      }
    } else if (owed <= OUTPUT_LOW_WATER) {
      this.overSince = undefined;
      const waiters = [...this.#waiters];
      this.#waiters.clear();
      for (const w of waiters) w.drained(this);
      this.#act();
    }
    return true;
  }

  onRecord(record: Uint8Array): void {
    this.lastSeen = this.core.now();
    try {
      switch (this.state) {
        case "hello":
          return this.#onHello(record);
        case "keying":
          // The client cannot have message 2 yet, so it has nothing to send: a violation.
          throw new ProtocolError("malformed", "a record before message 2");
        case "login":
          return this.#onLogin(record);
        case "authed":
          const bytes: Uint8Array[] = [];
          this.#held = this.#transport!.open(record, bytes);
          releaseBytes(record); // opened into a new buffer: a 60 KiB chunk's record goes now, not at the next collection
          this.#heldBytes = bytes;
          this.#heldAt = 0;
          return this.#act();
        case "closed":
          return;
      }
    } catch (e) {
      this.#failed(e);
    }
  }

  /**
   * Act on the messages of the last record in order while not paused (SPEC.md §4.4); once
   * all are done, read the socket again. Paused midway, the rest waits for the output to drain.
   */
  #act(): void {
    if (this.#acting) return; // called back from within the loop below: it carries on
    this.#acting = true;
    try {
      while (this.#heldAt < this.#held.length && this.state === "authed" && !this.paused) {
        const at = this.#heldAt++;
        this.#onMessage(this.#held[at]!, this.#heldBytes[at]!); // after a close, the rest of a batch is not acted on
      }
    } catch (e) {
      this.#failed(e);
    } finally {
      this.#acting = false;
    }
    if (this.state !== "authed" || this.#heldAt >= this.#held.length) {
      this.#held = NOTHING_HELD;
      this.#heldBytes = NO_BYTES_HELD;
      this.#heldAt = 0;
    }
    if (this.state !== "authed" || this.paused || !this.sock.paused) return;
    this.lastSeen = this.core.now(); // the silence while paused was ours, not the peer's
    this.sock.resume();
  }

  #failed(e: unknown): void {
    const code = e instanceof ProtocolError ? e.code : "internal";
    this.core.log.warn("protocol-error", { addr: this.address, user: this.user || undefined, code, state: this.state });
    if (e instanceof ProtocolError) this.fail(code === "too-large" ? "too-large" : "malformed", "protocol violation");
    else {
      this.core.log.error("session-bug", { addr: this.address, err: String(e) });
      this.sock.close("internal error");
    }
  }

  /** Tell the peer why (when it can read us) and close. */
  fail(code: ErrorCode, reason: string): void {
    if (this.state === "authed" && this.#out) {
      this.#out.post({ t: "error", code, reason });
      this.#out.flush();
      this.state = "closed";
      this.sock.end();
    } else {
      this.sock.close(reason);
    }
  }

  /** Close once what is queued for the peer is written, with no ERROR (after CHANGE_RESULT ok). */
  finish(): void {
    if (this.state !== "authed" || !this.#out) return;
    this.#out.flush();
    this.state = "closed";
    this.sock.end();
  }

  onClose(reason: string): void {
    const wasAuthed = this.state === "authed" || this.user !== "";
    this.state = "closed";
    this.core.sessionClosed(this);
    this.#release();
    if (wasAuthed) this.core.log.info("disconnect", { user: this.user, addr: this.address, reason });
  }

  /** Gone: give back what it owed, let go of what it held, and read again those waiting on it. */
  #release(): void {
    if (this.#account) this.core.output.leave(this.user, this.#account, this.#owed);
    this.#account = undefined;
    this.#owed = 0;
    this.overSince = undefined;
    this.#out?.drop();
    this.#held = NOTHING_HELD;
    this.#heldBytes = NO_BYTES_HELD;
    this.#heldAt = 0;
    for (const r of this.#waitingOn) r.gone(this);
    this.#waitingOn.clear();
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w.drained(this);
  }

  #onHello(record: Uint8Array): void {
    const hs = new RelayHandshake({
      relayKey: this.core.relayKey,
      maxMessageBytes: this.core.opts.maxMessageBytes,
      heartbeatTimeout: this.core.opts.heartbeatTimeout,
    });
    this.state = "keying";
    // A copy: read across an await, and the socket's read is released once onRecord returns.
    hs.readFirst(copyBytes(record)).then(
      (answer) => {
        // Closed meanwhile (by the peer, a timeout or a record it should not have sent): nothing to answer.
        if (this.state === "keying") this.#answerHello(hs, answer);
      },
      (e: unknown) => {
        if (this.state === "keying") this.#failed(e);
      },
    );
  }

  #answerHello(hs: RelayHandshake, answer: RelayFirstAnswer): void {
    if (answer.kind === "version-reply") {
      this.core.log.warn("bad-version", { addr: this.address, version: answer.clientVersion });
      this.sock.send(answer.record);
      this.state = "closed";
      this.sock.end();
      return;
    }
    this.sock.send(answer.record);
    this.#hs = hs;
    this.state = "login";
  }

  #onLogin(record: Uint8Array): void {
    const { user, invite, loginKey, transport } = this.#hs!.readLogin(record);
    this.#transport = transport;
    this.#out = new Outgoing(this.#transport, (record) => this.#write(record));
    this.#loginKey = loginKey;
    this.#hs = undefined;
    this.state = "authed"; // so post() can answer; reset below on failure
    this.user = user;
    const verdict =
      this.refusal !== undefined
        ? { status: "busy" as const, reason: this.refusal }
        : this.core.checkLogin(user, this.#loginKey!, this.address, invite);
    if (verdict.status === "ok") this.#account = this.core.output.join(user);
    this.post({ t: "loginResult", status: verdict.status, reason: verdict.reason });
    if (verdict.status !== "ok") {
      this.#out.flush();
      this.state = "closed";
      this.user = "";
      this.sock.end();
    }
  }

  /** `bytes`: m as it came, for what is passed on unchanged (CHUNK, ACK, a granted WINDOW, SEND as DELIVER). */
  #onMessage(m: Message, bytes: Uint8Array): void {
    switch (m.t) {
      case "heartbeat":
        this.post({ t: "heartbeat" });
        return;
      case "publishKey":
        return this.#onPublishKey(m);
      case "who":
        if (!this.#mayAsk()) return;
        this.post({ t: "whoReply", req: m.req, users: this.core.hub.online().slice(0, MAX_WHO_USERS) });
        return;
      case "watch":
        this.core.watch(this, m.all, m.users);
        return;
      case "getKey":
        if (!this.#mayAsk()) return;
        return this.#onGetKey(m);
      case "send":
        return this.core.startTransfer(this, m);
      case "post":
        return this.core.startPost(this, m);
      case "publishPrekeys":
        if (!this.sessionKey) throw new ProtocolError("malformed", "prekeys before a session key");
        this.core.mailbox?.publishPrekeys(this, m);
        return;
      case "getBundle":
        if (!this.#mayAsk()) return;
        if (!this.sessionKey) throw new ProtocolError("malformed", "a bundle asked for before a session key");
        if (!this.core.mailbox) return void this.post({ t: "bundle", req: m.req, user: m.user, status: "unavailable" });
        this.core.mailbox.bundle(this, m, this.core.directory.get(m.user)?.state === "active");
        return;
      case "noticeDone":
        this.core.mailbox?.noticeDone(this, m);
        return;
      case "chunk":
        return this.#onChunk(m, bytes);
      case "window":
      case "ack": {
        const t = this.incoming.get(idHex(m.id));
        if (!t) {
          this.core.mailbox?.answer(this, m); // waiting mail, or a transfer that ended meanwhile
          return;
        }
        if (m.t === "window") {
          if (m.seq < t.window || m.seq > t.nextSeq) throw new ProtocolError("malformed", "window out of range");
          if (m.limit < m.seq + WINDOW_CHUNKS) throw new ProtocolError("malformed", "window limit below the base window");
          t.window = m.seq;
          t.last = this.core.now();
          // The sender gets what the relay's budgets grant of what the recipient asked for,
          // and is held to exactly that (SPEC.md §6.3).
          t.limit = this.core.windows.grant(t, m.seq, m.limit, this.overSince !== undefined, t.from.pausable);
          if (t.limit === m.limit) this.forward(t.from, m, encoded(bytes));
          else this.forward(t.from, { t: "window", id: m.id, seq: m.seq, limit: t.limit });
          return;
        }
        this.core.endTransfer(t);
        this.forward(t.from, m, encoded(bytes));
        return;
      }
      case "abort": {
        const t = this.outgoing.get(idHex(m.id));
        if (!t) {
          this.core.mailbox?.abort(this, m.id);
          return;
        }
        this.core.endTransfer(t);
        this.forward(t.to, { t: "abort", id: m.id });
        return;
      }
      case "changeCode":
        return this.core.changeCode(this, m);
      case "getChanges":
        if (!this.#mayAsk()) return;
        this.post({ t: "changes", req: m.req, user: m.user, changes: this.core.directory.identityChanges(m.user).map(decodeIdentityChange) });
        return;
      default:
        throw new ProtocolError("malformed", `a client may not send ${m.t}`);
    }
  }

  /** WHO and GET_KEY before a session key is published: a few, then ERROR limit (SPEC.md §4.2). */
  #mayAsk(): boolean {
    if (this.sessionKey || ++this.#unpublishedRequests <= MAX_REQUESTS_UNPUBLISHED) return true;
    this.core.log.warn("request-limit", { user: this.user, addr: this.address });
    this.fail("limit", "publish a session key before asking for more");
    return false;
  }

  #onPublishKey(m: MessageOf<"publishKey">): void {
    // The relay cannot check the identity key (it has no pin), but it can refuse garbage:
    // a signature that does not verify, or a key for another user. The signature covers the
    // ML-KEM-768 half too; whether that half is a valid key is the sender's check (SPEC.md §5.2).
    verifySessionKey(m.key.identityPub, this.user, m.key.sessionPub, m.key.sessionKemPub, m.key.issuedAt, m.key.sig, ed25519VerifyNative);
    this.sessionKey = m.key;
    this.core.publish(this);
  }

  #onGetKey(m: MessageOf<"getKey">): void {
    const ep = this.core.hub.find(m.user);
    if (ep?.sessionKey) {
      this.post({ t: "key", req: m.req, user: m.user, status: "online", key: ep.sessionKey });
      return;
    }
    const row = this.core.directory.get(m.user);
    const status = row && row.state === "active" ? "offline" : "unknown";
    this.post({ t: "key", req: m.req, user: m.user, status });
  }

  #onChunk(m: MessageOf<"chunk">, bytes: Uint8Array): void {
    const t = this.outgoing.get(idHex(m.id));
    if (!t) {
      this.core.mailbox?.chunk(this, m); // an upload to a mailbox, or a late chunk: dropped
      return;
    }
    if (t.done || m.seq !== t.nextSeq) throw new ProtocolError("malformed", "chunk out of order");
    if (m.seq >= t.limit) {
      this.fail("window", "chunk beyond the window");
      return;
    }
    t.received += m.data.length;
    if (t.received > t.size || (m.last && t.received !== t.size)) {
      throw new ProtocolError("malformed", "chunk sizes do not add up to the announced size");
    }
    t.nextSeq++;
    t.last = this.core.now();
    t.done = m.last;
    this.core.stats.bytes += m.data.length;
    // A recipient over its share makes this sender wait; one past the hard limit is closed,
    // and closing it fails its transfers, this one included: nothing more to say here.
    this.forward(t.to, m, encoded(bytes));
  }
}
