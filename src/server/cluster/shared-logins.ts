// Failed-login limits across a relay cluster (SPEC.md §11.6): each node tells the others of
// every failed login (address, and the user id when it counts against it) and of every good
// one (the address then known for that user), and counts theirs in its own limiters, so
// that spreading guesses over the nodes gains an attacker nothing. Refused password changes
// travel the same way, so a stolen session's tries are counted per user on every node.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { LoginSharing } from "../relay-core.ts";
import { isUserId } from "../../protocol/user-id.ts";
import { LOGINS } from "./subjects.ts";

interface LoginNote {
  node: string;
  ok: boolean;
  ip: string;
  user?: string;
  /** A refused password change (CHANGE_CODE) for user, not a login; ip is then "". */
  change?: true;
}

export class SharedLogins implements LoginSharing {
  #nc: NatsConnection;
  #node: string;
  #sub: Subscription | undefined;

  constructor(nc: NatsConnection, node: string) {
    this.#nc = nc;
    this.#node = node;
  }

  /** Count what the other nodes tell in `core`. */
  listen(core: {
    remoteFailure(ip: string, user: string | undefined, now: number): void;
    remoteLogin(user: string, ip: string): void;
    remoteChangeRefused(user: string, now: number): void;
    now(): number;
  }): void {
    this.#sub = this.#nc.subscribe(LOGINS, {
      callback: (_e, m) => {
        let n: LoginNote;
        try {
          n = m.json<LoginNote>();
        } catch {
          return;
        }
        if (n.node === this.#node || typeof n.ip !== "string" || n.ip.length > 64) return;
        if (n.user !== undefined && !isUserId(n.user)) return;
        if (n.change === true) {
          if (!n.ok && n.user) core.remoteChangeRefused(n.user, core.now());
        } else if (n.ok && n.user) core.remoteLogin(n.user, n.ip);
        else if (!n.ok) core.remoteFailure(n.ip, n.user, core.now());
      },
    });
  }

  failed(ip: string, user: string | undefined): void {
    this.#publish({ node: this.#node, ok: false, ip, user });
  }

  succeeded(user: string, ip: string): void {
    this.#publish({ node: this.#node, ok: true, ip, user });
  }

  changeRefused(user: string): void {
    this.#publish({ node: this.#node, ok: false, ip: "", user, change: true });
  }

  #publish(n: LoginNote): void {
    this.#nc.publish(LOGINS, new TextEncoder().encode(JSON.stringify(n)));
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }
}
