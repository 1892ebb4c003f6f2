// Token buckets per key (SPEC.md §3.3, §6.5): failed logins per address and per user id,
// SENDs per user, new handshakes per address. Guessing passwords online costs an attacker one
// argon2id on their side and one bucket token here.
//
// The table of keys is bounded, and what it forgets must not help an attacker: forgetting a
// user's emptied bucket because someone failed for 100,000 throwaway ids would reset it
// (SECURITY.md §14, finding 11). A bucket that has refilled is the same as no bucket, so those
// go first; then the fullest; a bucket that is refusing (under one token) is never dropped.
// Should every tracked bucket be refusing, a key not tracked is refused too until room comes.

export interface RateLimitOptions {
  burst: number; // tokens at once
  perMinute: number; // tokens refilled per minute
  maxKeys?: number; // bound on tracked keys
}

interface Bucket {
  tokens: number;
  at: number; // when tokens was computed, also the key's last use
}

/** Room is made down to this share of maxKeys, so the scan runs once per many new keys. */
const PRUNE_TO = 0.9;
/** With nothing to drop, look again at most this often: each look scans every key. */
const SATURATED_RECHECK_MS = 1000;

export class FailureLimiter {
  #opts: Required<RateLimitOptions>;
  #buckets = new Map<string, Bucket>();
  #saturatedAt: number | undefined;

  constructor(opts: RateLimitOptions) {
    this.#opts = { maxKeys: 100_000, ...opts };
  }

  /** Keys tracked now (at most maxKeys). */
  get size(): number {
    return this.#buckets.size;
  }

  #level(b: Bucket, now: number): number {
    const refill = (Math.max(0, now - b.at) / 60_000) * this.#opts.perMinute;
    return Math.min(this.#opts.burst, b.tokens + refill);
  }

  /** True when key may try again now. */
  allowed(key: string, now: number): boolean {
    const b = this.#buckets.get(key);
    if (b) return this.#level(b, now) >= 1;
    return !this.#full(now);
  }

  /** Take one token (a failure, a SEND, a handshake); a key that cannot be tracked is not. */
  fail(key: string, now: number): void {
    let b = this.#buckets.get(key);
    if (!b) {
      if (this.#full(now)) return; // allowed() refuses untracked keys meanwhile
      b = { tokens: this.#opts.burst, at: now };
      this.#buckets.set(key, b);
    }
    b.tokens = Math.max(0, this.#level(b, now) - 1);
    b.at = now;
  }

  /** allowed() and, if so, fail(): one call for a bucket that meters use, not failures. */
  take(key: string, now: number): boolean {
    if (!this.allowed(key, now)) return false;
    this.fail(key, now);
    return true;
  }

  /** True when no new key can be tracked, after trying to make room. */
  #full(now: number): boolean {
    if (this.#buckets.size < this.#opts.maxKeys) return false;
    if (this.#saturatedAt !== undefined && now - this.#saturatedAt < SATURATED_RECHECK_MS && now >= this.#saturatedAt) return true;
    this.#makeRoom(now);
    if (this.#buckets.size < this.#opts.maxKeys) {
      this.#saturatedAt = undefined;
      return false;
    }
    this.#saturatedAt = now;
    return true;
  }

  /** Drop full buckets, then the fullest of the rest (the least recent first among equals). */
  #makeRoom(now: number): void {
    const target = Math.min(this.#opts.maxKeys - 1, Math.floor(this.#opts.maxKeys * PRUNE_TO));
    const candidates: { key: string; level: number; at: number }[] = [];
    for (const [key, b] of this.#buckets) {
      const level = this.#level(b, now);
      if (level >= this.#opts.burst) this.#buckets.delete(key);
      else if (level >= 1) candidates.push({ key, level, at: b.at });
    }
    if (this.#buckets.size <= target) return;
    candidates.sort((x, y) => y.level - x.level || x.at - y.at);
    for (const c of candidates) {
      if (this.#buckets.size <= target) return;
      this.#buckets.delete(c.key);
    }
  }
}
