// The relay's user directory in bun:sqlite (SPEC.md §3.3): registered users with their
// registration code (a login public key), and pending logins awaiting `ctrl users approve`.
// The relay and the ctrl command open the same file; WAL lets them do so at once.

import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { join } from "node:path";

export type UserState = "active" | "disabled";

export interface UserRow {
  user: string;
  code: Uint8Array | null; // the user's login public key, null until registered
  state: UserState;
  created: number;
}

export interface PendingRow {
  user: string;
  code: Uint8Array;
  address: string;
  time: number;
}

/** At most this many pending rows are kept; the oldest go first (SPEC.md §3.3). */
export const MAX_PENDING = 1000;

export class Directory {
  readonly db: Database;

  constructor(path: string) {
    ownerOnly(path);
    this.db = new Database(path, { create: true, strict: true });
    this.db.exec("PRAGMA journal_mode = WAL");
    // SQLite gives a new -wal and -shm the database file's own mode; ones an older version
    // left behind keep theirs, so those are tightened too.
    ownerOnly(`${path}-wal`, false);
    ownerOnly(`${path}-shm`, false);
    this.db.exec("PRAGMA synchronous = FULL");
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS users (
        user TEXT PRIMARY KEY,
        code BLOB,
        state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
        created INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS pending (
        user TEXT PRIMARY KEY,
        code BLOB NOT NULL,
        address TEXT NOT NULL,
        time INTEGER NOT NULL
      );
    `);
  }

  static open(dataDir: string): Directory {
    return new Directory(join(dataDir, "relay.db"));
  }

  close(): void {
    this.db.close();
  }

  /** Changes whenever another connection (the ctrl command) commits to this database. */
  dataVersion(): number {
    return this.db.query<{ data_version: number }, []>("PRAGMA data_version").get()!.data_version;
  }

  get(user: string): UserRow | undefined {
    const row = this.db
      .query<{ user: string; code: Uint8Array | null; state: UserState; created: number }, [string]>(
        "SELECT user, code, state, created FROM users WHERE user = ?",
      )
      .get(user);
    return row ?? undefined;
  }

  list(): UserRow[] {
    return this.db
      .query<UserRow, []>("SELECT user, code, state, created FROM users ORDER BY user")
      .all();
  }

  /** Returns false when the user already exists. */
  add(user: string, code: Uint8Array | null, now: number): boolean {
    const r = this.db
      .query("INSERT OR IGNORE INTO users (user, code, state, created) VALUES (?, ?, 'active', ?)")
      .run(user, code, now);
    return r.changes === 1;
  }

  setCode(user: string, code: Uint8Array): boolean {
    return this.db.query("UPDATE users SET code = ? WHERE user = ?").run(code, user).changes === 1;
  }

  setState(user: string, state: UserState): boolean {
    return this.db.query("UPDATE users SET state = ? WHERE user = ?").run(state, user).changes === 1;
  }

  remove(user: string): boolean {
    return this.db.transaction(() => {
      this.db.query("DELETE FROM pending WHERE user = ?").run(user);
      return this.db.query("DELETE FROM users WHERE user = ?").run(user).changes === 1;
    })();
  }

  /** Keep the latest failed login of a registered user, bounded in total. */
  recordPending(p: PendingRow, max = MAX_PENDING): void {
    this.db.transaction(() => {
      this.db
        .query("INSERT OR REPLACE INTO pending (user, code, address, time) VALUES (?, ?, ?, ?)")
        .run(p.user, p.code, p.address, p.time);
      this.db
        .query(
          "DELETE FROM pending WHERE user IN (SELECT user FROM pending ORDER BY time DESC LIMIT -1 OFFSET ?)",
        )
        .run(max);
    })();
  }

  pendingCount(): number {
    return this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM pending").get()!.n;
  }

  pending(): PendingRow[] {
    return this.db.query<PendingRow, []>("SELECT user, code, address, time FROM pending ORDER BY time").all();
  }

  /** Adopt the pending code as the user's registration code. */
  approve(user: string): PendingRow | undefined {
    return this.db.transaction(() => {
      const p = this.db
        .query<PendingRow, [string]>("SELECT user, code, address, time FROM pending WHERE user = ?")
        .get(user);
      if (!p) return undefined;
      if (this.db.query("UPDATE users SET code = ? WHERE user = ?").run(p.code, user).changes !== 1) {
        return undefined;
      }
      this.db.query("DELETE FROM pending WHERE user = ?").run(user);
      return p;
    })();
  }
}

/**
 * The database holds every registration code, an offline-guessing verifier for its user's
 * password (SECURITY.md §8): owner-only. A new file is made 0600 before SQLite opens it (an
 * empty file is an empty database), since SQLite would make it 0644 less the umask; an
 * existing one is tightened. Another user's file (ctrl run by someone else) is left alone.
 */
function ownerOnly(path: string, create = true): void {
  if (create && !existsSync(path)) {
    try {
      closeSync(openSync(path, "wx", 0o600));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  try {
    chmodSync(path, 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "EPERM") throw e;
  }
}
