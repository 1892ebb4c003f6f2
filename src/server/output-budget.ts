// The relay's budget for output its peers have not read yet (SPEC.md §6.5): per session, per
// user and in total. A session over its share is not read from until it drains, so a peer
// that asks without reading, or whose recipient does not read, stops being answered instead
// of filling the relay's memory.

export interface OutputLimits {
  /** A session with more unsent output than this is not read from. */
  perSession: number;
  /** The sessions of one user together; over it, each of them with more than OUTPUT_LOW_WATER pauses. */
  perUser: number;
  /** All sessions together; over it, every session with more than OUTPUT_LOW_WATER pauses. */
  total: number;
}

/**
 * A paused session is read again once its unsent output is down to this. It is also what
 * any session may owe while its user or the relay is over budget: at most one answer more
 * than this (a WHO_REPLY fits one record) per session of a user over budget.
 */
export const OUTPUT_LOW_WATER = 64 * 1024;

/**
 * Unsent output at which a session is closed at once (log `slow-reader`), as a multiple of
 * the per-session budget. A paused session can still be handed PRESENCE and the last record
 * of each of its up to 16 senders before they pause: this leaves room for those, and for
 * nothing a peer can ask for.
 */
export const HARD_LIMIT_FACTOR = 4;

/** What the sessions of one user owe together. */
export interface UserOutput {
  bytes: number;
  sessions: number;
}

export class OutputBudget {
  readonly limits: OutputLimits;
  /** Unsent output of all counted sessions, bytes. */
  total = 0;
  #users = new Map<string, UserOutput>();

  constructor(limits: OutputLimits) {
    this.limits = limits;
  }

  /** The account a new session of user joins; give it back with leave(). */
  join(user: string): UserOutput {
    let u = this.#users.get(user);
    if (!u) this.#users.set(user, (u = { bytes: 0, sessions: 0 }));
    u.sessions++;
    return u;
  }

  leave(user: string, u: UserOutput, owed: number): void {
    this.add(u, -owed);
    if (--u.sessions === 0) this.#users.delete(user);
  }

  add(u: UserOutput, delta: number): void {
    u.bytes += delta;
    this.total += delta;
  }

  /** Whether a session owing `owed` bytes, of a user owing u.bytes, is over its share. */
  over(u: UserOutput, owed: number): boolean {
    if (owed > this.limits.perSession) return true;
    return owed > OUTPUT_LOW_WATER && (u.bytes > this.limits.perUser || this.total > this.limits.total);
  }

  get hardLimit(): number {
    return this.limits.perSession * HARD_LIMIT_FACTOR;
  }

  /** Users with sessions counted now (what a relay that forgot nobody holds). */
  get users(): number {
    return this.#users.size;
  }
}
