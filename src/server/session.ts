// One client connection at the relay (SPEC.md §3, §4): the Noise_XX responder, the login
// check against the directory, then the routed messages. A protocol violation closes this
// connection only; nothing a peer sends can throw past this class.

import { HandshakeState } from "../protocol/noise.ts";
import { Transport } from "../protocol/transport.ts";
import { Outgoing } from "../net/outgoing.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { PREAMBLE_MAGIC, PROTOCOL_VERSION, concat } from "../protocol/framing.ts";
import {
  decodeLogin,
  encodeRelayHello,
  MSG_ID_LEN,
  WINDOW_CHUNKS,
  type ErrorCode,
  type Message,
  type MessageOf,
  type SignedSessionKey,
} from "../protocol/messages.ts";
import { verifySessionKey } from "../protocol/keys.ts";
import { ed25519VerifyNative } from "../protocol/primitives.ts";
import type { FramedSocket } from "../net/framed-socket.ts";
import type { Endpoint } from "./hub.ts";
import type { RelayCore } from "./relay-core.ts";

type State = "hello" | "login" | "authed" | "closed";

/** A transfer in flight through this relay (SPEC.md §6). */
export interface Transfer {
  id: Uint8Array;
  key: string; // hex id
  from: Session;
  to: Session;
  size: number;
  received: number; // ciphertext bytes seen so far
  nextSeq: number;
  window: number; // chunks the recipient has consumed
  done: boolean; // last chunk forwarded
  last: number; // when anything moved: a transfer idle past TRANSFER_IDLE_MS is ended
}

/**
 * A transfer in which nothing moved for this long is ended for both sides: otherwise two
 * connections could hold a recipient's incoming slots (MAX_INCOMING_PER_SESSION) forever.
 */
export const TRANSFER_IDLE_MS = 120_000;

export const PROLOGUE = concat(PREAMBLE_MAGIC, Uint8Array.of(PROTOCOL_VERSION));
/** A socket whose outgoing queue grows past this is a reader too slow to keep. */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
export const MAX_TRANSFERS_PER_SESSION = 8;
/** Transfers one recipient may have coming in at once, from everyone together. */
export const MAX_INCOMING_PER_SESSION = 16;
/** A WHO_REPLY must fit one record: 65519 bytes hold about 1900 longest ids. */
export const MAX_WHO_USERS = 1900;

export class Session implements Endpoint {
  readonly core: RelayCore;
  readonly sock: FramedSocket;
  readonly address: string;
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
  #hs: HandshakeState | undefined;
  #transport: Transport | undefined;
  #out: Outgoing | undefined;
  #loginKey: Uint8Array | undefined;

  constructor(core: RelayCore, sock: FramedSocket, now: number) {
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

  /** Queue m for the peer; what is posted in one turn leaves in as few records as fit. */
  post(m: Message): boolean {
    if (this.state !== "authed" || !this.#out || this.sock.closed) return false;
    this.#out.post(m);
    // Counted at once, not only when the turn's batch is sealed: a record full of requests
    // must not make the relay build more than the limit of answers first.
    return !this.#tooSlow(this.#out.waitingBytes);
  }

  #write(record: Uint8Array[]): void {
    if (this.sock.closed) return;
    this.sock.send(record);
    this.#tooSlow(0);
  }

  /** Unsent output over the limit: the peer does not read; close it (SPEC.md §6.5). */
  #tooSlow(waiting: number): boolean {
    if (this.sock.queuedBytes + waiting <= MAX_QUEUED_BYTES) return false;
    this.core.log.warn("slow-reader", { user: this.user, addr: this.address });
    this.#out?.drop();
    this.sock.close("slow reader");
    return true;
  }

  onRecord(record: Uint8Array): void {
    this.lastSeen = this.core.now();
    try {
      switch (this.state) {
        case "hello":
          return this.#onHello(record);
        case "login":
          return this.#onLogin(record);
        case "authed":
          for (const m of this.#transport!.open(record)) {
            this.#onMessage(m);
            if (this.state !== "authed") return; // the rest of a batch after a close is not acted on
          }
          return;
        case "closed":
          return;
      }
    } catch (e) {
      const code = e instanceof ProtocolError ? e.code : "internal";
      this.core.log.warn("protocol-error", { addr: this.address, user: this.user || undefined, code, state: this.state });
      if (e instanceof ProtocolError) this.fail(code === "too-large" ? "too-large" : "malformed", "protocol violation");
      else {
        this.core.log.error("session-bug", { addr: this.address, err: String(e) });
        this.sock.close("internal error");
      }
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

  onClose(reason: string): void {
    const wasAuthed = this.state === "authed" || this.user !== "";
    this.state = "closed";
    this.core.sessionClosed(this);
    if (wasAuthed) this.core.log.info("disconnect", { user: this.user, addr: this.address, reason });
  }

  #onHello(record: Uint8Array): void {
    if (record.length < 5 || !PREAMBLE_MAGIC.every((b, i) => record[i] === b)) {
      throw new ProtocolError("malformed", "no SMSG preamble");
    }
    if (record[4] !== PROTOCOL_VERSION) {
      // Answer in the clear with our version so the client can say what is wrong.
      this.core.log.warn("bad-version", { addr: this.address, version: record[4] });
      this.sock.send(PROLOGUE);
      this.state = "closed";
      this.sock.end();
      return;
    }
    const hs = new HandshakeState({ pattern: "XX", initiator: false, prologue: PROLOGUE, s: this.core.relayKey });
    const payload = hs.readMessage(record.subarray(5));
    if (payload.length !== 0) throw new ProtocolError("malformed", "message 1 carries a payload");
    this.sock.send(
      hs.writeMessage(
        encodeRelayHello({
          version: PROTOCOL_VERSION,
          maxMessageBytes: this.core.opts.maxMessageBytes,
          heartbeatTimeout: this.core.opts.heartbeatTimeout,
        }),
      ),
    );
    this.#hs = hs;
    this.state = "login";
  }

  #onLogin(record: Uint8Array): void {
    const hs = this.#hs!;
    const { user, invite } = decodeLogin(hs.readMessage(record));
    const [rx, tx] = hs.split(); // the first CipherState carries initiator -> responder
    this.#transport = new Transport(tx, rx);
    this.#out = new Outgoing(this.#transport, (record) => this.#write(record));
    this.#loginKey = hs.remoteStatic();
    this.#hs = undefined;
    this.state = "authed"; // so post() can answer; reset below on failure
    this.user = user;
    const verdict =
      this.refusal !== undefined
        ? { status: "busy" as const, reason: this.refusal }
        : this.core.checkLogin(user, this.#loginKey!, this.address, invite);
    this.post({ t: "loginResult", status: verdict.status, reason: verdict.reason });
    if (verdict.status !== "ok") {
      this.#out.flush();
      this.state = "closed";
      this.user = "";
      this.sock.end();
    }
  }

  #onMessage(m: Message): void {
    switch (m.t) {
      case "heartbeat":
        this.post({ t: "heartbeat" });
        return;
      case "publishKey":
        return this.#onPublishKey(m);
      case "who":
        this.post({ t: "whoReply", req: m.req, users: this.core.hub.online().slice(0, MAX_WHO_USERS) });
        return;
      case "watch":
        this.core.watch(this, m.all, m.users);
        return;
      case "getKey":
        return this.#onGetKey(m);
      case "send":
        return this.core.startTransfer(this, m);
      case "chunk":
        return this.#onChunk(m);
      case "window":
      case "ack": {
        const t = this.incoming.get(hex(m.id));
        if (!t) return; // the transfer ended meanwhile (sender gone): nothing to route
        if (m.t === "window") {
          if (m.seq < t.window || m.seq > t.nextSeq) throw new ProtocolError("malformed", "window out of range");
          t.window = m.seq;
          t.last = this.core.now();
        } else {
          this.core.endTransfer(t);
        }
        t.from.post(m);
        return;
      }
      case "abort": {
        const t = this.outgoing.get(hex(m.id));
        if (!t) return;
        this.core.endTransfer(t);
        t.to.post({ t: "abort", id: m.id });
        return;
      }
      default:
        throw new ProtocolError("malformed", `a client may not send ${m.t}`);
    }
  }

  #onPublishKey(m: MessageOf<"publishKey">): void {
    // The relay cannot check the identity key (it has no pin), but it can refuse garbage:
    // a signature that does not verify, or a key for another user.
    verifySessionKey(m.key.identityPub, this.user, m.key.sessionPub, m.key.issuedAt, m.key.sig, ed25519VerifyNative);
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

  #onChunk(m: MessageOf<"chunk">): void {
    const t = this.outgoing.get(hex(m.id));
    if (!t) return; // aborted or failed transfer: late chunks are dropped
    if (t.done || m.seq !== t.nextSeq) throw new ProtocolError("malformed", "chunk out of order");
    if (m.seq >= t.window + WINDOW_CHUNKS) {
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
    // A recipient that cannot take it is closed, and closing it fails its transfers,
    // this one included: nothing more to say here.
    t.to.post(m);
  }
}

export function hex(id: Uint8Array): string {
  if (id.length !== MSG_ID_LEN) throw new ProtocolError("malformed", "message id length");
  return Buffer.from(id).toString("hex");
}
