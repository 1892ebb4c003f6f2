// The relay's shared state and policy (SPEC.md §3.3, §4, §6): login checks, presence
// fan-out, transfer routing, the output budgets and the heartbeat sweep. Sockets are wired in relay.ts; this
// file never touches one, so its rules read in one place.

import { timingSafeEqual } from "node:crypto";
import type { Directory } from "./directory.ts";
import type { Hub } from "./hub.ts";
import type { Log } from "./log.ts";
import { FailureLimiter } from "./rate-limit.ts";
import { redeemInvite } from "./invites.ts";
import type { Session } from "./session.ts";
import { MAX_INCOMING_PER_SESSION, MAX_TRANSFERS_PER_SESSION, TRANSFER_IDLE_MS, type Transfer, type TransferEnd } from "./transfer.ts";
import type { KeyPair } from "./relay-key.ts";
import { OutputBudget } from "./output-budget.ts";
import { WindowBudget } from "./window-budget.ts";
import type { LoginStatus, MessageOf, SignedSessionKey } from "../protocol/messages.ts";
import { bytesEqual, copyBytes } from "../protocol/bytes.ts";
import { idHex, SendInPlace, WINDOW_CHUNKS } from "../protocol/messages.ts";
import { ed25519VerifyNative, sha256 } from "../protocol/primitives.ts";
import { encodeIdentityChange, verifyIdentityChange } from "../protocol/identity-change.ts";
import { crashPoint } from "../net/crash-point.ts";
import type { Mailbox } from "./mailbox.ts";

export interface RelayOptions {
  heartbeatTimeout: number; // seconds
  handshakeTimeout: number; // seconds
  maxMessageBytes: number;
  failedLoginsBurst: number;
  failedLoginsPerMinute: number;
  /** Failed logins per user id, from addresses it has not logged in from (SPEC.md §3.3). */
  failedLoginsPerUserBurst: number;
  failedLoginsPerUserPerHour: number;
  /** Refused CHANGE_CODEs per user (SPEC.md §3.3): a stolen session cannot try without bound. */
  failedChangesBurst: number;
  failedChangesPerHour: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** SENDs per user per minute, a token bucket of this size (SPEC.md §6.5). */
  messagesPerMinute: number;
  maxPending: number;
  shutdownGrace: number; // seconds
  /** New connections per address key: a token bucket checked at accept (SPEC.md §3.3). */
  handshakesPerSecond: number;
  handshakesBurst: number;
  /** Unread output budgets, bytes (SPEC.md §6.5): per session, per user, in total. */
  maxOutputPerSession: number;
  maxOutputPerUser: number;
  maxOutputTotal: number;
  /** Window credit beyond the base window, bytes (SPEC.md §6.3): per transfer, in total. */
  maxWindowPerTransfer: number;
  maxWindowTotal: number;
  /** Mail kept for offline users (SPEC.md §12): on/off, per-user quota, retention. */
  offlineMail: boolean;
  mailboxQuotaBytes: number;
  mailboxRetentionMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  heartbeatTimeout: 90,
  handshakeTimeout: 10,
  maxMessageBytes: 2 * 1024 * 1024 * 1024,
  failedLoginsBurst: 10,
  failedLoginsPerMinute: 10,
  failedLoginsPerUserBurst: 30,
  failedLoginsPerUserPerHour: 30,
  failedChangesBurst: 10,
  failedChangesPerHour: 10,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 50,
  messagesPerMinute: 120,
  maxPending: 1000,
  shutdownGrace: 30,
  handshakesPerSecond: 20,
  handshakesBurst: 200,
  maxOutputPerSession: 1024 * 1024,
  maxOutputPerUser: 4 * 1024 * 1024,
  maxOutputTotal: 256 * 1024 * 1024,
  maxWindowPerTransfer: 16 * 1024 * 1024,
  maxWindowTotal: 256 * 1024 * 1024,
  offlineMail: true,
  mailboxQuotaBytes: 1024 * 1024 * 1024,
  mailboxRetentionMs: 30 * 86400_000,
};

/** Connections over a limit kept just long enough to be told so; beyond this, cut at once. */
export const MAX_REFUSING = 64;
/** Addresses remembered per user as having logged in (exempt from the per-user limit). */
const KNOWN_ADDRESSES_PER_USER = 16;
const KNOWN_USERS = 100_000;

export interface RelayStats {
  connections: number;
  logins: number;
  failedLogins: number;
  messages: number;
  bytes: number;
}

/** Logins told to the other nodes of a cluster, so that the limits hold across it (SPEC.md §11.6). */
export interface LoginSharing {
  failed(ip: string, user: string | undefined): void;
  succeeded(user: string, ip: string): void;
  changeRefused(user: string): void;
}

export class RelayCore {
  readonly opts: RelayOptions;
  readonly relayKey: KeyPair;
  readonly directory: Directory;
  readonly hub: Hub<TransferEnd>;
  readonly log: Log;
  readonly now: () => number;
  readonly sessions = new Set<Session>();
  readonly stats: RelayStats = { connections: 0, logins: 0, failedLogins: 0, messages: 0, bytes: 0 };
  readonly output: OutputBudget;
  readonly windows: WindowBudget;
  /** Set by drain(): no new transfers; sessions close as their transfers end. */
  draining = false;
  #limiter: FailureLimiter;
  #userLimiter: FailureLimiter;
  #sendLimiter: FailureLimiter;
  #changeLimiter: FailureLimiter;
  #perAddress = new Map<string, number>();
  #refusing = 0;
  #known = new Map<string, Set<string>>();
  #watchers = new Map<string, Set<Session>>();
  #watchAll = new Set<Session>();
  #directoryVersion = -1;
  #sharing: LoginSharing | undefined;
  /** Set by startRelay when this relay keeps mail for offline users (SPEC.md §12). */
  mailbox: Mailbox | undefined;

  constructor(deps: {
    opts: RelayOptions;
    relayKey: KeyPair;
    directory: Directory;
    hub: Hub<TransferEnd>;
    log: Log;
    now: () => number;
    logins?: LoginSharing;
  }) {
    this.#sharing = deps.logins;
    this.opts = deps.opts;
    this.relayKey = deps.relayKey;
    this.directory = deps.directory;
    this.hub = deps.hub;
    this.log = deps.log;
    this.now = deps.now;
    this.output = new OutputBudget({ perSession: this.opts.maxOutputPerSession, perUser: this.opts.maxOutputPerUser, total: this.opts.maxOutputTotal });
    this.windows = new WindowBudget({ perTransfer: this.opts.maxWindowPerTransfer, total: this.opts.maxWindowTotal, unpausable: this.opts.maxOutputPerSession });
    this.#limiter = new FailureLimiter({ burst: this.opts.failedLoginsBurst, perMinute: this.opts.failedLoginsPerMinute });
    this.#userLimiter = new FailureLimiter({ burst: this.opts.failedLoginsPerUserBurst, perMinute: this.opts.failedLoginsPerUserPerHour / 60 });
    this.#sendLimiter = new FailureLimiter({ burst: Math.max(1, Math.floor(this.opts.messagesPerMinute)), perMinute: this.opts.messagesPerMinute });
    this.#changeLimiter = new FailureLimiter({ burst: this.opts.failedChangesBurst, perMinute: this.opts.failedChangesPerHour / 60 });
    this.hub.subscribe((user, online) => this.#announce(user, online));
    this.hub.bind?.(this);
  }

  /** A failed login on another node of the cluster: counted here as if it were ours. */
  remoteFailure(ip: string, user: string | undefined, now: number): void {
    this.#limiter.fail(ip, now);
    if (user !== undefined) this.#userLimiter.fail(user, now);
  }

  /** A refused CHANGE_CODE on another node of the cluster. */
  remoteChangeRefused(user: string, now: number): void {
    this.#changeLimiter.fail(user, now);
  }

  /** A good login on another node: its address is known for that user here too. */
  remoteLogin(user: string, ip: string): void {
    this.#remember(user, ip);
  }

  /**
   * A new connection. Over a connection limit it is kept only to complete the handshake
   * and be told why (LOGIN_RESULT busy); past MAX_REFUSING such, it is closed at once.
   */
  opened(s: Session): void {
    this.sessions.add(s);
    this.stats.connections++;
    const key = addressKey(s.address);
    const n = (this.#perAddress.get(key) ?? 0) + 1;
    this.#perAddress.set(key, n);
    this.log.info("connect", { addr: s.address });
    const refusal =
      this.sessions.size > this.opts.maxConnections
        ? `the relay has its maximum of ${this.opts.maxConnections} connections; try again later`
        : n > this.opts.maxConnectionsPerAddress
          ? `too many connections from your address (the limit is ${this.opts.maxConnectionsPerAddress})`
          : undefined;
    if (refusal === undefined) return;
    this.log.warn("connection-limit", { addr: s.address, reason: n > this.opts.maxConnectionsPerAddress ? "per-address" : "total" });
    if (this.#refusing >= MAX_REFUSING) {
      s.sock.close(refusal);
      return;
    }
    s.refusal = refusal;
    this.#refusing++;
  }

  /**
   * Unknown user, wrong key and not-yet-approved all answer "auth-failed", so the answer
   * tells a guesser nothing about which users exist (SECURITY.md, "user enumeration").
   */
  checkLogin(user: string, loginKey: Uint8Array, address: string, invite?: Uint8Array): { status: LoginStatus; reason: string } {
    const now = this.now();
    const ip = addressKey(address);
    if (!this.#limiter.allowed(ip, now)) {
      this.log.warn("login-rate-limited", { user, addr: address, per: "address" });
      return { status: "rate-limited", reason: "too many failed logins from this address; wait a minute" };
    }
    // Guessing one account from many addresses is slowed per user id; addresses the user
    // has logged in from are exempt, so a stranger cannot lock them out (SECURITY.md §7).
    const known = this.#known.get(user)?.has(ip) ?? false;
    if (!known && !this.#userLimiter.allowed(user, now)) {
      this.log.warn("login-rate-limited", { user, addr: address, per: "user" });
      return { status: "rate-limited", reason: "too many failed logins for this user id; wait a few minutes" };
    }
    const row = this.directory.get(user);
    const match = row?.code != null && row.code.length === 32 && timingSafeEqual(row.code, loginKey);
    if (match && row.state === "active") {
      this.stats.logins++;
      this.#remember(user, ip);
      this.#sharing?.succeeded(user, ip);
      this.log.info("login", { user, addr: address });
      return { status: "ok", reason: "" };
    }
    if (match) {
      this.log.warn("login-disabled", { user, addr: address });
      return { status: "disabled", reason: "this account is disabled on the relay" };
    }
    if (invite && row && redeemInvite(this.directory, user, invite, loginKey, now)) {
      this.stats.logins++;
      this.#remember(user, ip);
      this.#sharing?.succeeded(user, ip);
      this.log.info("registered", { user, addr: address, via: "invite", key: fingerprint(loginKey) });
      this.log.info("login", { user, addr: address });
      return { status: "ok", reason: "" };
    }
    this.stats.failedLogins++;
    this.#limiter.fail(ip, now);
    if (!known) this.#userLimiter.fail(user, now);
    this.#sharing?.failed(ip, known ? undefined : user);
    // The log gets a short fingerprint, never the code: a code from a mistyped password
    // would let a log reader test guesses near the real one offline (SECURITY.md).
    this.log.warn("login-failed", { user, addr: address, key: fingerprint(loginKey), invite: invite ? "refused" : undefined });
    if (row) {
      // After the answer has gone: a synchronous fsync only for registered users would
      // make their refusals slower, telling a guesser which ids exist.
      setTimeout(() => {
        try {
          this.directory.recordPending({ user, code: loginKey, address, time: now }, this.opts.maxPending);
          this.log.info("pending", { user, addr: address, key: fingerprint(loginKey) });
        } catch (e) {
          this.log.error("pending-not-saved", { user, err: e instanceof Error ? e.message : String(e) });
        }
      }, 0);
    }
    return {
      status: "auth-failed",
      reason: "login refused: wrong password, or the user is not registered or not yet approved",
    };
  }

  /** A session published its key: it is now reachable, replacing an older connection. */
  publish(s: Session): void {
    const old = this.hub.attach(s);
    if (old && old !== s) {
      this.log.info("replaced", { user: s.user, addr: old.address });
      old.fail("replaced", "replaced by a newer connection of the same user");
    }
    // First publication on this session only: a key published again changes nothing waiting.
    if (old !== s && this.hub.find(s.user) === s) this.mailbox?.connected(s);
  }

  /**
   * A password change (SPEC.md §3.3): the session, authenticated by the current code, names
   * the new one with the old identity's signed statement. Adopted in one transaction; the
   * session then ends, so the next login must use the new code.
   */
  changeCode(s: Session, m: MessageOf<"changeCode">): void {
    const now = this.now();
    // Per user, not per session or address: a stolen session, or many of them, gets one
    // budget of refusals for the account, checked before any signature is verified.
    if (!this.#changeLimiter.allowed(s.user, now)) {
      this.log.warn("code-change-rate-limited", { user: s.user, addr: s.address });
      s.post({ t: "changeResult", req: m.req, status: "rate-limited", reason: "too many refused password changes for this user id; wait an hour" });
      return;
    }
    const refuse = (reason: string, check: string): void => {
      this.#changeLimiter.fail(s.user, now);
      this.#sharing?.changeRefused(s.user);
      this.log.warn("code-change-refused", { user: s.user, addr: s.address, check });
      s.post({ t: "changeResult", req: m.req, status: "refused", reason });
    };
    const current = s.loginKey;
    if (!s.sessionKey || !current) return refuse("publish a session key before changing the code", "unpublished");
    // The statement must come from the identity this session speaks for: the chain a
    // contact follows starts at the key they pinned from this user's announcements.
    if (!bytesEqual(m.change.oldIdentityPub, s.sessionKey.identityPub)) return refuse("the statement is not signed by this session's identity key", "old-identity");
    try {
      verifyIdentityChange(s.user, m.change, ed25519VerifyNative);
    } catch {
      return refuse("the identity-change statement does not verify", "statement");
    }
    if (bytesEqual(m.code, current)) return refuse("the new code is the current one", "same-code");
    crashPoint("relay-received");
    if (!this.directory.changeCode(s.user, current, m.code, encodeIdentityChange(m.change))) {
      return refuse("the account's code changed meanwhile", "code-moved");
    }
    // A fingerprint, as for registrations: never the code itself (SECURITY.md §12).
    this.log.info("code-changed", { user: s.user, addr: s.address, key: fingerprint(m.code) });
    crashPoint("relay-committed");
    s.post({ t: "changeResult", req: m.req, status: "ok", reason: "" });
    s.finish();
  }

  watch(s: Session, all: boolean, users: string[]): void {
    this.#unwatch(s);
    s.watchAll = all;
    s.watching = new Set(users);
    if (all) this.#watchAll.add(s);
    for (const u of users) {
      let set = this.#watchers.get(u);
      if (!set) this.#watchers.set(u, (set = new Set()));
      set.add(s);
    }
  }

  #unwatch(s: Session): void {
    this.#watchAll.delete(s);
    for (const u of s.watching) {
      const set = this.#watchers.get(u);
      set?.delete(s);
      if (set?.size === 0) this.#watchers.delete(u);
    }
  }

  #announce(user: string, online: boolean): void {
    const m = { t: "presence", user, online } as const;
    for (const s of this.#watchAll) if (s.user !== user) s.post(m);
    for (const s of this.#watchers.get(user) ?? []) if (!s.watchAll) s.post(m);
  }

  /**
   * SEND's checks 1-3 (SPEC.md §6.2), which POST shares (§12.3): the first failure, if any.
   * `sameKey`: whether the message names the key `from` published.
   */
  #admit(from: Session, sameKey: boolean, size: number, key: string): MessageOf<"sendFailed">["reason"] | undefined {
    // The sender's key must be the one it published on this connection: what the relay
    // routes by and what it tells others is one and the same.
    if (!sameKey) return "stale-key";
    if (from.outgoing.has(key) || from.outgoing.size >= MAX_TRANSFERS_PER_SESSION || this.draining) return "busy";
    const now = this.now();
    if (!this.#sendLimiter.allowed(from.user, now)) {
      this.log.warn("send-rate-limited", { user: from.user });
      return "rate-limited";
    }
    this.#sendLimiter.fail(from.user, now);
    if (size > this.opts.maxMessageBytes) return "too-large";
    return undefined;
  }

  /** Mail for an offline recipient, to be kept at this relay (SPEC.md §12.3). */
  startPost(from: Session, m: MessageOf<"post">): void {
    const reason =
      this.#admit(from, from.sessionKey !== undefined && sameKey(from.sessionKey, m.senderKey), m.size, idHex(m.id)) ??
      (this.mailbox ? this.mailbox.post(from, m, this.directory.get(m.to)?.state === "active") : "no-mailbox");
    if (reason) from.post({ t: "sendFailed", id: m.id, reason });
  }

  /**
   * A SEND. As a session decodes it (SendInPlace), its key and sealed fields are checked where
   * they lie in the record and passed on as they came, spliced into the DELIVER.
   */
  startTransfer(from: Session, m: MessageOf<"send">): void {
    const fail = (reason: MessageOf<"sendFailed">["reason"]): void => {
      from.post({ t: "sendFailed", id: m.id, reason });
    };
    const inPlace = m instanceof SendInPlace ? m : undefined;
    const key = idHex(m.id);
    const published = from.sessionKey;
    const refused = this.#admit(from, published !== undefined && (inPlace ? inPlace.sentWith(published) : sameKey(published, m.senderKey)), m.size, key);
    if (refused) return fail(refused);
    const ep = this.hub.find(m.to);
    if (!ep) {
      const row = this.directory.get(m.to);
      return fail(row && row.state === "active" ? "offline" : "unknown-user");
    }
    const to = ep.sessionKey?.sessionPub;
    if (!to || !(inPlace ? inPlace.sealedTo(to) : bytesEqual(to, m.recipientSessionPub))) return fail("stale-key");
    if (ep.incoming.has(key) || ep.incoming.size >= MAX_INCOMING_PER_SESSION) return fail("busy");
    // A SendInPlace's id is a copy already; another SEND's fields may be views into its
    // record, which the transfer, living until the ACK, should not keep.
    const t: Transfer = { id: inPlace ? m.id : copyBytes(m.id), key, from, to: ep, size: m.size, received: 0, nextSeq: 0, window: 0, limit: WINDOW_CHUNKS, extra: 0, done: false, last: this.now() };
    from.outgoing.set(key, t);
    ep.incoming.set(key, t);
    this.stats.messages++;
    if (inPlace) {
      const d = inPlace.deliver(from.user);
      return from.forward(ep, d.m, d.encoded);
    }
    from.forward(ep, {
      t: "deliver",
      id: m.id,
      from: from.user,
      size: m.size,
      senderKey: m.senderKey,
      recipientSessionPub: m.recipientSessionPub,
      enc: m.enc,
      kemCiphertext: m.kemCiphertext,
    });
  }

  endTransfer(t: Transfer): void {
    this.windows.release(t);
    t.from.outgoing.delete(t.key);
    t.to.incoming.delete(t.key);
    if (this.draining) {
      // After the ACK or ABORT being handled has been forwarded, not before it.
      queueMicrotask(() => {
        this.#closeIfIdle(t.from);
        this.#closeIfIdle(t.to);
      });
    }
  }

  /**
   * Stop taking new work (SIGTERM): sessions still in the handshake are cut, idle sessions
   * are told ERROR shutdown, sessions with transfers in flight keep them until they end.
   */
  drain(): void {
    this.draining = true;
    for (const s of [...this.sessions]) {
      if (!s.authed) s.sock.close("relay stopping");
      else this.#closeIfIdle(s);
    }
  }

  /** Transfers in flight through the relay now. */
  get transfers(): number {
    let n = 0;
    for (const s of this.sessions) n += s.outgoing.size;
    return n;
  }

  #closeIfIdle(s: TransferEnd): void {
    if (s.authed && s.outgoing.size === 0 && s.incoming.size === 0) s.fail("shutdown", "the relay is shutting down");
  }

  #remember(user: string, ip: string): void {
    let set = this.#known.get(user);
    if (!set) {
      if (this.#known.size >= KNOWN_USERS) this.#known.delete(this.#known.keys().next().value!);
      this.#known.set(user, (set = new Set()));
    }
    set.delete(ip);
    set.add(ip);
    if (set.size > KNOWN_ADDRESSES_PER_USER) set.delete(set.values().next().value!);
  }

  sessionClosed(s: Session): void {
    if (!this.sessions.delete(s)) return;
    const key = addressKey(s.address);
    const n = (this.#perAddress.get(key) ?? 1) - 1;
    if (n > 0) this.#perAddress.set(key, n);
    else this.#perAddress.delete(key);
    if (s.refusal !== undefined) this.#refusing--;
    this.#unwatch(s);
    this.hub.detach(s);
    this.#endTransfersOf(s);
    this.mailbox?.closed(s);
  }

  /** s is gone: the other ends of its transfers are told so. */
  #endTransfersOf(s: TransferEnd): void {
    for (const t of [...s.outgoing.values()]) {
      this.endTransfer(t);
      t.to.post({ t: "abort", id: t.id });
    }
    for (const t of [...s.incoming.values()]) {
      this.endTransfer(t);
      t.from.post({ t: "sendFailed", id: t.id, reason: "recipient-gone" });
    }
  }

  #recheckAccounts(): void {
    for (const s of [...this.sessions]) {
      if (!s.authed || !s.loginKey) continue;
      const row = this.directory.get(s.user);
      const ok = row !== undefined && row.state === "active" && row.code !== null && bytesEqual(row.code, s.loginKey);
      if (ok) continue;
      this.log.info("account-revoked", { user: s.user, addr: s.address, state: row?.state ?? "removed" });
      s.fail("limit", "the operator removed, disabled or re-registered this account");
    }
  }

  /**
   * The operator changed the directory (ctrl users remove/disable/approve, here or on another
   * node): sessions whose account is gone, disabled or re-keyed end now, not at their next login.
   */
  checkDirectory(): void {
    const version = this.directory.dataVersion();
    if (version !== this.#directoryVersion) {
      if (this.#directoryVersion !== -1) this.#recheckAccounts();
      this.#directoryVersion = version;
    }
  }

  /** Close sessions silent past the heartbeat timeout or stuck in the handshake; end idle transfers. */
  sweep(): void {
    const now = this.now();
    this.checkDirectory();
    this.mailbox?.sweep(now);
    for (const s of this.sessions) {
      for (const t of [...s.outgoing.values()]) {
        if (now - t.last <= TRANSFER_IDLE_MS) continue;
        this.log.info("transfer-idle", { from: t.from.user, to: t.to.user });
        this.endTransfer(t);
        t.to.post({ t: "abort", id: t.id });
        t.from.post({ t: "sendFailed", id: t.id, reason: "aborted" });
      }
      if (s.authed) {
        if (s.overSince !== undefined && now - s.overSince > this.opts.heartbeatTimeout * 1000) {
          // Its peer has not read its output down to its share for as long as silence is
          // allowed: it will not (SPEC.md §6.5). The ERROR waits behind what it did not read.
          this.log.warn("output-limit", { user: s.user, addr: s.address });
          s.fail("limit", "too much unread output for too long");
        } else if (!s.paused && now - s.lastSeen > this.opts.heartbeatTimeout * 1000) {
          // A paused session is not read: its silence is the relay's doing, not its own.
          this.log.info("heartbeat-timeout", { user: s.user, addr: s.address });
          s.sock.close("heartbeat timeout");
        }
      } else if (now - s.opened > this.opts.handshakeTimeout * 1000) {
        // Also a session told why it is closed (ERROR) whose peer does not read it.
        s.sock.close(s.state === "closed" ? "not read after closing" : "handshake timeout");
      }
    }
  }
}

/** Rate limits apply per IPv4 address and per IPv6 /64, the unit one host usually gets. */
export function addressKey(address: string): string {
  // Only "::ffff:a.b.c.d" is IPv4-mapped; "::ffff:0:0:..." is an ordinary IPv6 address.
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)) return address.slice(7);
  if (!address.includes(":")) return address;
  // Expand "::" into the zero groups it stands for (an embedded IPv4 tail is two groups),
  // so every spelling of an address in one /64 gives the same first four groups.
  const [head = "", tail] = address.split("::");
  const groups = head === "" ? [] : head.split(":");
  if (tail !== undefined) {
    const after = tail === "" ? [] : tail.split(":");
    const width = after.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
    groups.push(...Array<string>(Math.max(8 - groups.length - width, 0)).fill("0"), ...after);
  }
  return groups.slice(0, 4).join(":") + "::/64";
}

/**
 * 8 hex digits naming a login key in logs: enough to match a pending row. Not secret-safe:
 * 32 bits still confirm a password guess, so logs stay readable by the operator only.
 */
export function fingerprint(key: Uint8Array): string {
  return Buffer.from(sha256(key).subarray(0, 4)).toString("hex");
}

function sameKey(a: SignedSessionKey, b: SignedSessionKey): boolean {
  return (
    bytesEqual(a.identityPub, b.identityPub) &&
    bytesEqual(a.sessionPub, b.sessionPub) &&
    bytesEqual(a.sessionKemPub, b.sessionKemPub) &&
    a.issuedAt === b.issuedAt &&
    bytesEqual(a.sig, b.sig)
  );
}

