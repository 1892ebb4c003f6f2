// Presence and routing behind one small interface (SPEC.md §4.2). LocalHub keeps them in
// this process; a later hub can share them between relays (e.g. over NATS) without the
// session code changing, which only ever talks to a Hub and to Endpoints. The relay's hub
// holds TransferEnds (transfer.ts): whatever it finds, it can route a transfer to.

import type { Endpoint } from "./endpoint.ts";
import type { Log } from "./log.ts";
import type { Transfer } from "./transfer.ts";

/** What a hub that routes between relays needs of the relay it serves. */
export interface HubCore {
  endTransfer(t: Transfer): void;
  now(): number;
  readonly log: Log;
}

export type PresenceListener = (user: string, online: boolean) => void;

export interface Hub<E extends Endpoint = Endpoint> {
  /** Make endpoint the route to its user; returns the endpoint it replaced, if any. */
  attach(endpoint: E): E | undefined;
  /** Remove endpoint if it is still the route to its user. */
  detach(endpoint: E): void;
  find(user: string): E | undefined;
  online(): string[];
  subscribe(listener: PresenceListener): () => void;
  /** Given the relay it routes for, once (a cluster's hub needs it to end transfers). */
  bind?(core: HubCore): void;
}

export class LocalHub<E extends Endpoint = Endpoint> implements Hub<E> {
  #routes = new Map<string, E>();
  #listeners = new Set<PresenceListener>();

  attach(endpoint: E): E | undefined {
    const old = this.#routes.get(endpoint.user);
    this.#routes.set(endpoint.user, endpoint);
    if (!old) this.#emit(endpoint.user, true);
    return old;
  }

  detach(endpoint: E): void {
    if (this.#routes.get(endpoint.user) !== endpoint) return;
    this.#routes.delete(endpoint.user);
    this.#emit(endpoint.user, false);
  }

  find(user: string): E | undefined {
    return this.#routes.get(user);
  }

  online(): string[] {
    return [...this.#routes.keys()].sort();
  }

  subscribe(listener: PresenceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(user: string, online: boolean): void {
    for (const l of this.#listeners) l(user, online);
  }
}
