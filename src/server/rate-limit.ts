// Failed-login limiting per address (SPEC.md §3.3): a token bucket per key. Guessing
// passwords online costs an attacker one argon2id on their side and one bucket token here.

export interface RateLimitOptions {
  burst: number; // failures allowed at once
  perMinute: number; // failures refilled per minute
  maxKeys?: number; // bound on tracked keys, oldest dropped first
}

export class FailureLimiter {
  #opts: Required<RateLimitOptions>;
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(opts: RateLimitOptions) {
    this.#opts = { maxKeys: 100_000, ...opts };
  }

  #level(key: string, now: number): { tokens: number; at: number } {
    const b = this.#buckets.get(key);
    if (!b) return { tokens: this.#opts.burst, at: now };
    const refill = ((now - b.at) / 60_000) * this.#opts.perMinute;
    return { tokens: Math.min(this.#opts.burst, b.tokens + refill), at: now };
  }

  /** True when key may try again now. */
  allowed(key: string, now: number): boolean {
    return this.#level(key, now).tokens >= 1;
  }

  fail(key: string, now: number): void {
    const b = this.#level(key, now);
    b.tokens = Math.max(0, b.tokens - 1);
    this.#buckets.delete(key);
    this.#buckets.set(key, b);
    if (this.#buckets.size > this.#opts.maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
  }
}
