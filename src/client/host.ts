// The client as a long-lived process (CLIENT.md §2): it may start locked (no password yet,
// as a service or from a tray) and be unlocked later through its local API. Locked, it
// holds no keys, opens no store and does not connect. What a page or a tray reads
// (status, events) lives here, so it survives unlocking.

import { timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { deriveUserKeys, type UserKeys } from "../protocol/keys.ts";
import { argon2id } from "../protocol/primitives.ts";
import { Daemon, relayAddress, type DaemonOptions } from "./daemon.ts";
import type { Status } from "./status.ts";
import { UserError } from "./user-error.ts";
import { EventBus } from "./events.ts";
import { Store } from "./store.ts";
import { decodeIdentityChange, encodeIdentityChange, signIdentityChange } from "../protocol/identity-change.ts";
import { crashPoint } from "../net/crash-point.ts";

export const STORE_FILE = "client.db";

export class ClientHost {
  readonly user: string;
  readonly dataDir: string;
  readonly events = new EventBus();
  uiUrl: string | null = null;
  #opts: DaemonOptions;
  #log: (line: string) => void;
  #daemon: Daemon | undefined;
  #loginPubs: Uint8Array[] = []; // the unlocked user's login keys: two while a password change is under way
  #changed: { resolve: () => void; reject: (e: Error) => void } | undefined; // a `passwd` waiting
  #unlocking: Promise<void> | undefined;
  #derive: typeof deriveUserKeys;

  constructor(a: { user: string; dataDir: string; opts: DaemonOptions; log: (line: string) => void; derive?: typeof deriveUserKeys }) {
    this.user = a.user;
    this.dataDir = a.dataDir;
    this.#opts = a.opts;
    this.#log = a.log;
    const derive = a.derive ?? deriveUserKeys;
    this.#derive = (user, password, o) => derive(user, password, { ...o, argon2: returningMemory(o?.argon2 ?? argon2id) });
  }

  get unlocked(): boolean {
    return this.#daemon !== undefined;
  }

  /** The running daemon; a locked client answers 423 with a sentence saying what to do. */
  get daemon(): Daemon {
    if (!this.#daemon) throw new UserError(`the client is locked: unlock it in the mailbox at ${this.uiUrl}`, 423);
    return this.#daemon;
  }

  /**
   * Unlock with the password: derive the keys, open the store (a wrong password fails
   * there, or at the relay on a fresh data dir), start the daemon. Unlocking an unlocked
   * client only checks the password.
   */
  async unlock(password: string, opts: { mayCreate?: boolean } = {}): Promise<void> {
    // A fresh data dir takes whatever password opens it first. Only the owner may do that
    // (command line, or the API with the owner-only token), never the unauthenticated
    // Unlock page, where any local user could otherwise claim the data dir.
    if (opts.mayCreate === false && !this.#daemon && !existsSync(join(this.dataDir, STORE_FILE))) {
      throw new UserError(
        "this data dir is new: set it up once from the command line (smsg client with --password-file, SMSG_PASSWORD or the prompt)",
        409,
      );
    }
    if (this.#daemon) {
      if (!(await this.checkPassword(password))) throw new UserError("wrong password", 403);
      return;
    }
    if (this.#unlocking) {
      await this.#unlocking.catch(() => undefined);
      return this.unlock(password, opts);
    }
    // Set before the first await: a second unlock meanwhile waits instead of opening twice.
    this.#unlocking = this.#derive(this.user, password).then((keys) => this.#open(keys));
    try {
      await this.#unlocking;
    } finally {
      this.#unlocking = undefined;
    }
  }

  async #open(unlockedWith: UserKeys): Promise<void> {
    const store = Store.open(join(this.dataDir, STORE_FILE), unlockedWith.storeKey); // WrongPasswordError
    // During a password change either password opens the store, which works under the old
    // keys until the relay has the new code (CLIENT.md §1.6).
    const pending = store.pendingChange;
    const keys = pending ? pending.old : unlockedWith;
    const owner = store.getMeta("user");
    if (owner && new TextDecoder().decode(owner) !== this.user) {
      store.close();
      throw new UserError(`${this.dataDir} belongs to ${new TextDecoder().decode(owner)}, not ${this.user}`, 409);
    }
    if (!owner) store.setMeta("user", new TextEncoder().encode(this.user));
    const next = pending && { user: this.user, login: pending.next.login, identity: pending.next.identity };
    const daemon = new Daemon({
      store,
      id: { user: this.user, login: keys.login, identity: keys.identity },
      change: next && {
        next,
        statement: decodeIdentityChange(pending.statement),
        switched: () => this.#switched(daemon),
        refused: (reason) => this.#refused(daemon, reason),
      },
      opts: this.#opts,
      events: this.events,
      uiUrl: () => this.uiUrl,
      log: this.#log,
    });
    this.#daemon = daemon;
    this.#loginPubs = pending ? [pending.old.login.publicKey, pending.next.login.publicKey] : [keys.login.publicKey];
    daemon.start();
    daemon.search.warmUp(4, () => this.#daemon !== daemon);
  }

  /** Does this password belong to the unlocked user? (argon2id, constant-time compare) */
  async checkPassword(password: string): Promise<boolean> {
    if (this.#loginPubs.length === 0) return false;
    const keys = await this.#derive(this.user, password);
    return this.#loginPubs.some((pub) => timingSafeEqual(keys.login.publicKey, pub));
  }

  /**
   * Change the password (CLIENT.md §1.6): check the current one, derive the new keys, sign
   * the identity-change statement with the old identity key, prepare the store so that both
   * passwords open it, then restart the daemon, which asks the relay at login and commits
   * once the relay holds the new code. Resolves when the change is complete.
   */
  async changePassword(current: string, next: string, timeoutMs = 30_000): Promise<void> {
    const daemon = this.daemon;
    if (daemon.changing || this.#changed) throw new UserError("a password change is already under way", 409);
    if (!daemon.relay.link) throw new UserError("not connected to the relay: the password can only be changed while connected; nothing changed", 503);
    if (next === "") throw new UserError("the new password is empty");
    if (current.normalize("NFC") === next.normalize("NFC")) throw new UserError("the new password is the current one");
    const old = await this.#derive(this.user, current);
    if (!timingSafeEqual(old.login.publicKey, daemon.id.login.publicKey)) throw new UserError("the current password is wrong", 403);
    const keys = await this.#derive(this.user, next);
    if (this.#daemon !== daemon || daemon.changing) throw new UserError("the client was locked or changed meanwhile; nothing changed", 409);
    const statement = signIdentityChange(old.identity.seed, this.user, old.identity.publicKey, keys.identity.publicKey, Date.now());
    daemon.store.prepareChange(old, keys, encodeIdentityChange(statement));
    crashPoint("prepared");
    this.#log("password change: the store opens with both passwords until the relay has the new code");
    const done = new Promise<void>((resolve, reject) => (this.#changed = { resolve, reject }));
    // The daemon, started again, finds the change in the store and finishes it at login:
    // the same path a restart after a crash takes.
    this.#restart(old);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        done,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new UserError(
                  "the relay did not confirm the password change in time: it completes by itself when the client is next connected; until then both passwords unlock it",
                  503,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.#changed = undefined;
    }
  }

  /** Stop the daemon and open the store again with these keys. */
  #restart(keys: UserKeys): void {
    this.stop();
    void this.#open(keys).catch((e: unknown) => this.#log(`could not start again after the password change: ${String(e)}`));
  }

  /** The relay holds the new code: commit the store, then go on with the new keys alone. */
  #switched(daemon: Daemon): void {
    if (this.#daemon !== daemon) return;
    const next = daemon.store.pendingChange!.next;
    daemon.store.commitChange();
    crashPoint("committed");
    this.#log("password changed: the relay and the store use the new password; the old one opens nothing");
    this.#restart(next);
    // Every browser unlocks again, with the new password.
    this.events.emit({ type: "lock" });
    this.#changed?.resolve();
  }

  /** The relay refused for good: only the old password stays. */
  #refused(daemon: Daemon, reason: string): void {
    if (this.#daemon !== daemon) return;
    const old = daemon.store.pendingChange!.old;
    daemon.store.abortChange();
    this.#log(`password not changed: ${reason}`);
    this.#restart(old);
    this.#changed?.reject(new UserError(`${reason}; the password is unchanged`, 409));
  }

  status(): Status & { locked: boolean } {
    if (this.#daemon) return { ...this.#daemon.status(), locked: false };
    return {
      user: this.user,
      relay: relayAddress(this.#opts),
      state: "locked",
      retryAt: null,
      connected: false,
      relayKey: null,
      uiUrl: this.uiUrl,
      queued: 0,
      unread: 0,
      error: "locked: unlock the client with its password",
      locked: true,
    };
  }

  /**
   * Lock the mailbox: every browser session ends and must unlock again. The daemon keeps
   * its keys and stays connected, so mail still arrives (SECURITY.md "Local attacker").
   */
  lock(): void {
    this.events.emit({ type: "lock" });
  }

  stop(): void {
    const d = this.#daemon;
    this.#daemon = undefined; // background work (the search warm-up) sees it is over
    d?.stop();
    d?.store.close();
  }
}

/**
 * Argon2id's 64 MiB (SPEC.md §3.2), freed when it ends, stays resident until the allocator
 * next tidies the thread that ran it: 150-300 ms here, during which the unlock derives the
 * keys, opens the store and starts the daemon on top of it, which made a daemon's peak
 * memory (bench/README.md). A full collection right after makes the allocator give it back
 * at once; its few milliseconds are nothing beside the derivation's hundreds.
 */
function returningMemory(argon2: typeof argon2id): typeof argon2id {
  return async (...args) => {
    try {
      return await argon2(...args);
    } finally {
      Bun.gc(true);
    }
  };
}
