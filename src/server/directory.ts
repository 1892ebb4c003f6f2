// The relay's user directory in bun:sqlite (SPEC.md §3.3): registered users with their
// registration code (a login public key), pending logins awaiting `ctrl users approve`, the
// hashes of invites and admin login links. The relay and the ctrl command open the same
// file; WAL lets them do so at once. This class alone owns relay.db: its schema and every
// statement are here, behind methods that speak in rows and bytes, never SQL, so its
// storage can be swapped (a replicated one for a relay cluster) without touching callers.
// In a cluster (SPEC.md §11.3) the database is an in-memory copy of a JetStream KV bucket:
// every row a method changes is handed to a sink that writes it to the bucket, and rows
// other nodes changed arrive through applyRemote, so lookups stay synchronous.

import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { join } from "node:path";
import { checkUserId } from "../protocol/user-id.ts";
import { decodeRegistrationCode, encodeRegistrationCode } from "../protocol/keys.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { IDENTITY_CHANGE_LEN, MAX_CHANGES } from "../protocol/identity-change.ts";

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

export interface InviteRow {
  user: string;
  created: number;
  expires: number;
}

/** The tables whose rows a cluster replicates, each row under its key (SPEC.md §11.3). */
export type DirectoryTable = "users" | "pending" | "invites" | "admin_logins" | "identity_changes";
export type DirectoryRow = Record<string, string | number | Uint8Array | null>;

/** A row changed by this process: row undefined when it was deleted. */
export interface DirectoryChange {
  table: DirectoryTable;
  key: string | Uint8Array; // the row's primary key: a user id, or an invite's or link's hash
  row: DirectoryRow | undefined;
}

const TABLE_KEYS: Record<DirectoryTable, string> = { users: "user", pending: "user", invites: "hash", admin_logins: "hash", identity_changes: "user" };

/** At most this many pending rows are kept; the oldest go first (SPEC.md §3.3). */
export const MAX_PENDING = 1000;

export type ApprovalErrorCode = "bad-user-id" | "bad-code" | "no-user" | "no-pending" | "wrong-code" | "code-needed";

/** Why an approval was refused, in a sentence for the operator (ctrl or the admin page). */
export class ApprovalError extends Error {
  constructor(
    readonly code: ApprovalErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A registration code typed by a person, or an ApprovalError saying what is wrong with it. */
export function readRegistrationCode(typed: string): Uint8Array {
  try {
    return decodeRegistrationCode(typed);
  } catch (e) {
    if (e instanceof ProtocolError) throw new ApprovalError("bad-code", `"${typed}" is not a registration code (checksum or format wrong)`);
    throw e;
  }
}

export class Directory {
  readonly #db: Database;
  #sink: ((changes: DirectoryChange[]) => void) | undefined;
  #remoteVersion = 0;
  #depth = 0;

  constructor(path: string) {
    const memory = path === ":memory:";
    if (!memory) ownerOnly(path);
    this.#db = new Database(path, { create: true, strict: true });
    if (!memory) {
      this.#db.exec("PRAGMA journal_mode = WAL");
      // SQLite gives a new -wal and -shm the database file's own mode; ones an older version
      // left behind keep theirs, so those are tightened too.
      ownerOnly(`${path}-wal`, false);
      ownerOnly(`${path}-shm`, false);
      this.#db.exec("PRAGMA synchronous = FULL");
      this.#db.exec("PRAGMA busy_timeout = 5000");
    }
    this.#db.exec(`
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
      CREATE TABLE IF NOT EXISTS invites (
        hash BLOB PRIMARY KEY,
        user TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS admin_logins (hash BLOB PRIMARY KEY, expires INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS identity_changes (
        user TEXT PRIMARY KEY,
        chain BLOB NOT NULL
      );
    `);
  }

  static open(dataDir: string): Directory {
    return new Directory(join(dataDir, "relay.db"));
  }

  /**
   * A cluster's copy (SPEC.md §11.3): in memory, filled by applyRemote; every row a method
   * changes goes to `sink`, right after the change, in the order made.
   */
  static replica(sink: (changes: DirectoryChange[]) => void): Directory {
    const d = new Directory(":memory:");
    // Which rows a statement touched, whatever the statement: triggers note the keys, and
    // #handOver reads the rows as they are now.
    d.#db.exec("CREATE TEMP TABLE changes (tbl TEXT NOT NULL, k ANY NOT NULL, PRIMARY KEY (tbl, k))");
    for (const [table, key] of Object.entries(TABLE_KEYS)) {
      for (const [op, row] of [["INSERT", "NEW"], ["UPDATE", "NEW"], ["DELETE", "OLD"]] as const) {
        d.#db.exec(`CREATE TEMP TRIGGER ${table}_${op.toLowerCase()} AFTER ${op} ON main.${table} BEGIN INSERT OR IGNORE INTO changes (tbl, k) VALUES ('${table}', ${row}.${key}); END`);
      }
    }
    d.#sink = sink;
    return d;
  }

  /** Run a change; the outermost one hands what it changed to the sink (a replica's). */
  #write<T>(f: () => T): T {
    this.#depth++;
    try {
      return f();
    } finally {
      if (--this.#depth === 0) this.#handOver();
    }
  }

  /** Hand the rows changed since the last call to the sink (a replica only). */
  #handOver(): void {
    if (!this.#sink) return;
    const keys = this.#db.query<{ tbl: DirectoryTable; k: string | Uint8Array }, []>("SELECT tbl, k FROM changes").all();
    if (keys.length === 0) return;
    this.#db.exec("DELETE FROM changes");
    this.#sink(keys.map(({ tbl, k }) => ({ table: tbl, key: k, row: this.row(tbl, k) })));
  }

  /** One row of a table by its key, every column, as stored. */
  row(table: DirectoryTable, key: string | Uint8Array): DirectoryRow | undefined {
    return this.#db.query<DirectoryRow, [string | Uint8Array]>(`SELECT * FROM ${table} WHERE ${TABLE_KEYS[table]} = ?`).get(key) ?? undefined;
  }

  /** Every row of a table (a replica's first fill, and tests). */
  rows(table: DirectoryTable): DirectoryRow[] {
    return this.#db.query<DirectoryRow, []>(`SELECT * FROM ${table}`).all();
  }

  /** A row another node changed (row undefined: deleted); not handed to the sink again. */
  applyRemote(table: DirectoryTable, key: string | Uint8Array, row: DirectoryRow | undefined): void {
    const k = TABLE_KEYS[table];
    if (row === undefined) this.#db.query(`DELETE FROM ${table} WHERE ${k} = ?`).run(key);
    else {
      const cols = Object.keys(row);
      if (!cols.every((c) => /^[a-z_]+$/.test(c))) throw new Error(`bad column in a ${table} row`);
      this.#db
        .query(`INSERT OR REPLACE INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)
        .run(...(cols.map((c) => row[c]) as (string | number | Uint8Array | null)[]));
    }
    if (this.#sink) this.#db.exec("DELETE FROM changes");
    this.#remoteVersion++;
  }

  close(): void {
    this.#db.close();
  }

  /** Changes whenever another connection (the ctrl command) or another node changes the directory. */
  dataVersion(): number {
    return this.#db.query<{ data_version: number }, []>("PRAGMA data_version").get()!.data_version + this.#remoteVersion;
  }

  get(user: string): UserRow | undefined {
    const row = this.#db
      .query<{ user: string; code: Uint8Array | null; state: UserState; created: number }, [string]>(
        "SELECT user, code, state, created FROM users WHERE user = ?",
      )
      .get(user);
    return row ?? undefined;
  }

  list(): UserRow[] {
    return this.#db
      .query<UserRow, []>("SELECT user, code, state, created FROM users ORDER BY user")
      .all();
  }

  /** Add many users at once, all or none (the benchmarks register thousands). */
  addAll(users: { user: string; code: Uint8Array | null }[], now: number): void {
    this.#write(() => {
      this.#db.transaction(() => {
        for (const u of users) this.add(u.user, u.code, now);
      })();
    });
  }

  /** Returns false when the user already exists. */
  add(user: string, code: Uint8Array | null, now: number): boolean {
    return this.#write(() => {
      const r = this.#db
        .query("INSERT OR IGNORE INTO users (user, code, state, created) VALUES (?, ?, 'active', ?)")
        .run(user, code, now);
      return r.changes === 1;
    });
  }

  setCode(user: string, code: Uint8Array): boolean {
    return this.#write(() => {
      return this.#db.query("UPDATE users SET code = ? WHERE user = ?").run(code, user).changes === 1;
    });
  }

  setState(user: string, state: UserState): boolean {
    return this.#write(() => {
      return this.#db.query("UPDATE users SET state = ? WHERE user = ?").run(state, user).changes === 1;
    });
  }

  remove(user: string): boolean {
    return this.#write(() => {
      return this.#db.transaction(() => {
        this.#db.query("DELETE FROM pending WHERE user = ?").run(user);
        // A user added again later under this id must not inherit the old one's statements.
        this.#db.query("DELETE FROM identity_changes WHERE user = ?").run(user);
        return this.#db.query("DELETE FROM users WHERE user = ?").run(user).changes === 1;
      })();
    });
  }

  /** Keep the latest failed login of a registered user, bounded in total. */
  recordPending(p: PendingRow, max = MAX_PENDING): void {
    this.#write(() => {
      this.#db.transaction(() => {
        this.#db
          .query("INSERT OR REPLACE INTO pending (user, code, address, time) VALUES (?, ?, ?, ?)")
          .run(p.user, p.code, p.address, p.time);
        this.#db
          .query(
            "DELETE FROM pending WHERE user IN (SELECT user FROM pending ORDER BY time DESC LIMIT -1 OFFSET ?)",
          )
          .run(max);
      })();
    });
  }

  pendingCount(): number {
    return this.#db.query<{ n: number }, []>("SELECT count(*) AS n FROM pending").get()!.n;
  }

  pending(): PendingRow[] {
    return this.#db.query<PendingRow, []>("SELECT user, code, address, time FROM pending ORDER BY time").all();
  }

  /** Adopt the pending code as the user's registration code. */
  approve(user: string): PendingRow | undefined {
    return this.#write(() => {
      return this.#db.transaction(() => {
        const p = this.#db
          .query<PendingRow, [string]>("SELECT user, code, address, time FROM pending WHERE user = ?")
          .get(user);
        if (!p) return undefined;
        if (this.#db.query("UPDATE users SET code = ? WHERE user = ?").run(p.code, user).changes !== 1) {
          return undefined;
        }
        this.#db.query("DELETE FROM pending WHERE user = ?").run(user);
        return p;
      })();
    });
  }

  /**
   * The approval rule, shared by `ctrl users approve` and the relay's admin page: the user
   * exists and has a pending login, whose code must equal `want` when given; `want` is
   * required to replace an existing code. Anyone who knows a user id can make a pending row
   * for it, so replacing a code needs the one the operator got from the user over a channel
   * they trust. Throws ApprovalError saying which part failed.
   */
  approvePending(name: string, want: Uint8Array | undefined): PendingRow {
    return this.#write(() => {
      // One write transaction from the check to the adoption: a pending row planted by a
      // login in between must not be adopted in place of the one that was checked.
      return this.#db.transaction(() => this.#checkAndApprove(name, want)).immediate();
    });
  }

  #checkAndApprove(name: string, want: Uint8Array | undefined): PendingRow {
    let u: string;
    try {
      u = checkUserId(name);
    } catch {
      throw new ApprovalError("bad-user-id", `"${name}" is not a valid user id (1-32 of a-z 0-9 . _ - starting with a letter or digit)`);
    }
    const row = this.get(u);
    if (!row) throw new ApprovalError("no-user", `no user ${u}: add them first with \`users add ${u}\``);
    const pending = this.#db
      .query<PendingRow, [string]>("SELECT user, code, address, time FROM pending WHERE user = ?")
      .get(u);
    if (!pending) throw new ApprovalError("no-pending", `no pending login for ${u}: ask them to start their client once`);
    if (want && Buffer.compare(Buffer.from(want), Buffer.from(pending.code)) !== 0) {
      throw new ApprovalError("wrong-code", `the pending code for ${u} is ${encodeRegistrationCode(pending.code)}, not the one given: not approved`);
    }
    if (row.code && !want) {
      throw new ApprovalError(
        "code-needed",
        `${u} already has a code; to replace it, give the new code they sent you: \`users approve ${u} CODE\` (pending: ${encodeRegistrationCode(pending.code)} from ${pending.address})`,
      );
    }
    const p = this.approve(u);
    if (!p) throw new ApprovalError("no-pending", `no pending login for ${u}`);
    return p;
  }

  /** Store an invite by the hash of its token, replacing the user's older one and dropping expired ones. */
  putInvite(hash: Uint8Array, user: string, now: number, expires: number): void {
    this.#write(() => {
      this.#db.transaction(() => {
        this.#db.query("DELETE FROM invites WHERE user = ? OR expires <= ?").run(user, now);
        this.#db.query("INSERT INTO invites (hash, user, created, expires) VALUES (?, ?, ?, ?)").run(hash, user, now, expires);
      })();
    });
  }

  /** Invites not yet expired, by user. */
  invites(now: number): InviteRow[] {
    return this.#db.query<InviteRow, [number]>("SELECT user, created, expires FROM invites WHERE expires > ? ORDER BY user").all(now);
  }

  /**
   * Spend the invite with this hash: if it exists, names this user, has not expired and the
   * user exists and is active, set their code to `code`, drop the invite and their pending
   * row, all at once. Any failure leaves everything as it was and returns false.
   */
  redeemInvite(hash: Uint8Array, user: string, code: Uint8Array, now: number): boolean {
    return this.#write(() => {
      return this.#db.transaction(() => {
        const row = this.#db.query<{ user: string; expires: number }, [Uint8Array]>("SELECT user, expires FROM invites WHERE hash = ?").get(hash);
        if (!row || row.user !== user || row.expires <= now) return false;
        const u = this.get(user);
        if (!u || u.state !== "active") return false;
        this.#db.query("DELETE FROM invites WHERE hash = ?").run(hash);
        this.#db.query("UPDATE users SET code = ? WHERE user = ?").run(code, user);
        this.#db.query("DELETE FROM pending WHERE user = ?").run(user);
        return true;
      })();
    });
  }

  /**
   * A password change (SPEC.md §3.3, CHANGE_CODE): if `user` is active and registered with
   * `oldCode`, set `newCode`, append the identity-change statement to the user's chain (the
   * newest MAX_CHANGES kept) and drop their pending row, all in one write transaction.
   * False, with nothing changed, when the code is no longer `oldCode` or the user is gone.
   */
  changeCode(user: string, oldCode: Uint8Array, newCode: Uint8Array, statement: Uint8Array): boolean {
    return this.#write(() => {
      return this.#db.transaction(() => {
        const row = this.get(user);
        if (!row || row.state !== "active" || !row.code || Buffer.compare(Buffer.from(row.code), Buffer.from(oldCode)) !== 0) return false;
        this.#db.query("UPDATE users SET code = ? WHERE user = ?").run(newCode, user);
        const chain = [...this.identityChanges(user), statement].slice(-MAX_CHANGES);
        this.#db.query("INSERT OR REPLACE INTO identity_changes (user, chain) VALUES (?, ?)").run(user, Buffer.concat(chain));
        this.#db.query("DELETE FROM pending WHERE user = ?").run(user);
        return true;
      }).immediate();
    });
  }

  /** The user's identity-change statements, oldest first, each IDENTITY_CHANGE_LEN bytes. */
  identityChanges(user: string): Uint8Array[] {
    const chain = this.#db.query<{ chain: Uint8Array }, [string]>("SELECT chain FROM identity_changes WHERE user = ?").get(user)?.chain;
    const out: Uint8Array[] = [];
    if (!chain) return out;
    for (let o = 0; o + IDENTITY_CHANGE_LEN <= chain.length; o += IDENTITY_CHANGE_LEN) out.push(chain.slice(o, o + IDENTITY_CHANGE_LEN));
    return out;
  }

  /** Store an admin login link by the hash of its token, dropping expired ones. */
  putAdminLogin(hash: Uint8Array, now: number, expires: number): void {
    this.#write(() => {
      this.#db.transaction(() => {
        this.#db.query("DELETE FROM admin_logins WHERE expires <= ?").run(now);
        this.#db.query("INSERT INTO admin_logins (hash, expires) VALUES (?, ?)").run(hash, expires);
      })();
    });
  }

  /** Use up the admin login link with this hash: true when it existed and had not expired. */
  takeAdminLogin(hash: Uint8Array, now: number): boolean {
    return this.#write(() => {
      return this.#db.query("DELETE FROM admin_logins WHERE hash = ? AND expires > ?").run(hash, now).changes === 1;
    });
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
