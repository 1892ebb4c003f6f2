// Admission of new connections (SPEC.md §3.3 "Handshake limit"): a token bucket per IPv4
// address or IPv6 /64, checked when a connection is accepted. A first record is 1,223 constant
// bytes that cost the relay a key generation, two X25519 and an ML-KEM-768 encapsulation; a
// refused connection is closed before a byte of it is read, so flooding from one address costs
// the relay an accept and a close.

import type { Log } from "./log.ts";
import { FailureLimiter } from "./rate-limit.ts";
import { addressKey } from "./relay-core.ts";

/** A flood is logged once when it starts and then at most once per this, with a count. */
export const HANDSHAKE_LOG_EVERY_MS = 10_000;
/** Addresses whose refusals are being counted for the log; the oldest are forgotten. */
const LOGGED_KEYS = 10_000;

export class HandshakeGate {
  #buckets: FailureLimiter;
  #log: Log;
  #now: () => number;
  #logged = new Map<string, { at: number; refused: number }>();

  constructor(opts: { perSecond: number; burst: number }, log: Log, now: () => number) {
    this.#buckets = new FailureLimiter({ burst: opts.burst, perMinute: opts.perSecond * 60 });
    this.#log = log;
    this.#now = now;
  }

  /** True when a new connection from address may start a handshake; takes its token. */
  admit(address: string): boolean {
    const key = addressKey(address);
    const now = this.#now();
    if (this.#buckets.take(key, now)) return true;
    // One line per refused connection would let the flood fill the operator's disk.
    const seen = this.#logged.get(key);
    if (seen && now - seen.at < HANDSHAKE_LOG_EVERY_MS && now >= seen.at) {
      seen.refused++;
      return false;
    }
    this.#log.warn("handshake-limit", { addr: address, refused: (seen?.refused ?? 0) + 1 });
    this.#logged.delete(key);
    this.#logged.set(key, { at: now, refused: 0 });
    if (this.#logged.size > LOGGED_KEYS) this.#logged.delete(this.#logged.keys().next().value!);
    return false;
  }
}
