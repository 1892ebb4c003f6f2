// Browser sessions of the mailbox (issue #3): a random id in an HttpOnly, SameSite=Strict
// cookie, forgotten after the idle time or when anyone locks. Only in memory: a restart of
// the daemon locks every browser.

import { randomBytes } from "node:crypto";

export const SESSION_COOKIE = "smsg_session";
/** Marks a request the page made by itself, not a person's use (SPEC.md §8.5). */
export const AUTO_HEADER = "x-smsg-auto";

export class Sessions {
  #seen = new Map<string, number>(); // id -> last request time
  #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  create(): string {
    const id = randomBytes(32).toString("base64url");
    this.#seen.set(id, this.#now());
    return id;
  }

  /** A live session is touched; an idle or unknown one is refused (and forgotten). */
  check(id: string | undefined, idleMs: number): boolean {
    if (!id) return false;
    const last = this.#seen.get(id);
    if (last === undefined) return false;
    if (this.#now() - last > idleMs) {
      this.#seen.delete(id);
      return false;
    }
    this.#seen.set(id, this.#now());
    return true;
  }

  /** Is the session still valid, without counting this as activity (a page's event stream is not a person). */
  alive(id: string | undefined, idleMs: number): boolean {
    if (!id) return false;
    const last = this.#seen.get(id);
    return last !== undefined && this.#now() - last <= idleMs;
  }

  end(id: string | undefined): void {
    if (id) this.#seen.delete(id);
  }

  endAll(): void {
    this.#seen.clear();
  }

  get size(): number {
    return this.#seen.size;
  }
}
