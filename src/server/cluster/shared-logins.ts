// Failed-login limits across a relay cluster (SPEC.md §11.6): each node tells the others of
// every failed login (address, and the user id when it counts against it) and of every good
// one (the address then known for that user), and counts theirs in its own limiters, so
// that spreading guesses over the nodes gains an attacker nothing.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { LoginSharing } from "../relay-core.ts";
import { isUserId } from "../../protocol/user-id.ts";
import { LOGINS } from "./subjects.ts";

interface LoginNote {
  node: string;
  ok: boolean;
  ip: string;
  user?: string;
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
  listen(core: { remoteFailure(ip: string, user: string | undefined, now: number): void; remoteLogin(user: string, ip: string): void; now(): number }): void {
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
        if (n.ok && n.user) core.remoteLogin(n.user, n.ip);
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

  #publish(n: LoginNote): void {
    this.#nc.publish(LOGINS, new TextEncoder().encode(JSON.stringify(n)));
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }
}
