// Live events of the client daemon (CLIENT.md §2.3): what a web page, a tray or the CLI can
// follow. Plain data only; no message content beyond what the inbox list shows.

import type { Status } from "./status.ts";

export type DaemonEvent =
  | ({ type: "status" } & Status)
  | { type: "message"; id: string; from: string; subject: string }
  | { type: "delivery"; id: string; recipient: string; state: string }
  | { type: "presence"; user: string; online: boolean }
  | { type: "identity-changed"; user: string }
  | { type: "lock" }; // the mailbox's browser sessions must end (tray or page "Lock")

export type EventListener = (e: DaemonEvent) => void;

export class EventBus {
  #listeners = new Set<EventListener>();

  on(l: EventListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  emit(e: DaemonEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A broken listener (a closed browser tab) must not stop delivery to the others.
      }
    }
  }
}
