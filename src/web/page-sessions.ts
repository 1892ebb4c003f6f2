// Browser sessions of the loopback pages, the mailbox and the relay's admin page (SPEC.md
// §8.5, SECURITY.md §9 and §12): a random id in an HttpOnly, SameSite=Strict cookie AND a
// random token the page keeps in its origin's storage and sends with every request. The
// browser sends the cookie to every port of 127.0.0.1, so another local user's server on
// another port can collect it; the token it never sees. Forgotten after the idle time, the
// longest life (if any) or when anyone locks; only in memory: a restart ends them all.

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

interface Session {
  token: string;
  created: number;
  last: number; // last request time
}

const same = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

export class Sessions {
  #all = new Map<string, Session>(); // cookie id -> session
  #now: () => number;
  #maxMs: number;
  #idEncoding: "base64url" | "hex";

  /**
   * `maxMs`: the longest a session lives however much it is used (the admin page's 8 h).
   * `idEncoding`: how the cookie spells its 32 bytes (the admin page's cookie is hex).
   */
  constructor(now: () => number = Date.now, maxMs = Infinity, idEncoding: "base64url" | "hex" = "base64url") {
    this.#now = now;
    this.#maxMs = maxMs;
    this.#idEncoding = idEncoding;
  }

  /** A new session: `id` goes in the cookie, `token` to the page only. */
  create(): { id: string; token: string } {
    const id = randomBytes(32).toString(this.#idEncoding);
    const token = randomBytes(32).toString("base64url");
    const now = this.#now();
    this.#all.set(id, { token, created: now, last: now });
    return { id, token };
  }

  #live(id: string | undefined, idleMs: number): Session | undefined {
    if (!id) return undefined;
    const s = this.#all.get(id);
    const now = this.#now();
    if (s && (now - s.last > idleMs || now - s.created > this.#maxMs)) {
      this.#all.delete(id);
      return undefined;
    }
    return s;
  }

  /**
   * The cookie's session is live and the token is its own. `use` (a person's request, not one
   * the page makes by itself) refreshes its last-use time. An idle session is forgotten.
   */
  check(id: string | undefined, token: string | undefined, idleMs: number, use = true): boolean {
    const s = this.#live(id, idleMs);
    if (!s || !token || !same(token, s.token)) return false;
    if (use) s.last = this.#now();
    return true;
  }

  /** The cookie alone names a live session (enough for a page shell without data, never for data). */
  cookieAlive(id: string | undefined, idleMs: number): boolean {
    return this.#live(id, idleMs) !== undefined;
  }

  /**
   * A download link's signature: a download is a navigation and cannot carry the header, so
   * its URL carries an HMAC of its path under the session's token (valid for that path only).
   */
  sign(id: string | undefined, path: string): string {
    const s = id ? this.#all.get(id) : undefined;
    return s ? createHmac("sha256", s.token).update(path).digest("base64url") : "";
  }

  checkSigned(id: string | undefined, path: string, sig: string | undefined, idleMs: number): boolean {
    const s = this.#live(id, idleMs);
    if (!s || !sig || !same(sig, this.sign(id, path))) return false;
    s.last = this.#now();
    return true;
  }

  endAll(): void {
    this.#all.clear();
  }

  get size(): number {
    return this.#all.size;
  }
}
