// The client as a long-lived process (CLIENT.md §2): it may start locked (no password yet,
// as a service or from a tray) and be unlocked later through its local API. Locked, it
// holds no keys, opens no store and does not connect. What a page or a tray reads
// (status, events) lives here, so it survives unlocking.

import { timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { deriveUserKeys, type UserKeys } from "../protocol/keys.ts";
import { Daemon, relayAddress, type DaemonOptions } from "./daemon.ts";
import type { Status } from "./status.ts";
import { UserError } from "./user-error.ts";
import { EventBus } from "./events.ts";
import { Store } from "./store.ts";

export const STORE_FILE = "client.db";

export class ClientHost {
  readonly user: string;
  readonly dataDir: string;
  readonly events = new EventBus();
  uiUrl: string | null = null;
  #opts: DaemonOptions;
  #log: (line: string) => void;
  #daemon: Daemon | undefined;
  #loginPub: Uint8Array | undefined;
  #unlocking: Promise<void> | undefined;
  #derive: typeof deriveUserKeys;

  constructor(a: { user: string; dataDir: string; opts: DaemonOptions; log: (line: string) => void; derive?: typeof deriveUserKeys }) {
    this.user = a.user;
    this.dataDir = a.dataDir;
    this.#opts = a.opts;
    this.#log = a.log;
    this.#derive = a.derive ?? deriveUserKeys;
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

  async #open(keys: UserKeys): Promise<void> {
    const store = Store.open(join(this.dataDir, STORE_FILE), keys.storeKey); // WrongPasswordError
    const owner = store.getMeta("user");
    if (owner && new TextDecoder().decode(owner) !== this.user) {
      store.close();
      throw new UserError(`${this.dataDir} belongs to ${new TextDecoder().decode(owner)}, not ${this.user}`, 409);
    }
    if (!owner) store.setMeta("user", new TextEncoder().encode(this.user));
    const daemon = new Daemon({
      store,
      id: { user: this.user, login: keys.login, identity: keys.identity },
      opts: this.#opts,
      events: this.events,
      uiUrl: () => this.uiUrl,
      log: this.#log,
    });
    this.#daemon = daemon;
    this.#loginPub = keys.login.publicKey;
    daemon.start();
    daemon.search.warmUp(250, () => this.#daemon !== daemon);
  }

  /** Does this password belong to the unlocked user? (argon2id, constant-time compare) */
  async checkPassword(password: string): Promise<boolean> {
    if (!this.#loginPub) return false;
    const keys = await this.#derive(this.user, password);
    return timingSafeEqual(keys.login.publicKey, this.#loginPub);
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
