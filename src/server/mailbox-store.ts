// The relay's mailbox on one node (SPEC.md §12): prekeys, mail waiting for offline users and
// the notices kept for their senders, in `mailbox.db` (bun:sqlite, synchronous = FULL), with
// a waiting message's chunks in its row up to INLINE_MAX bytes and in a file of `mailbox/` above. Behind MailboxStore so that a store
// on a replicated JetStream stream can take its place in a cluster.

import { Database } from "bun:sqlite";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, rmSync, writeSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { AckStatus, NoticeKind } from "../protocol/messages.ts";

/**
 * Mail up to this size waits in its row, not in a file: a file costs a block and an fsync of
 * its own, and most mail is small (bench/README.md, "Offline mail").
 */
export const INLINE_MAX = 64 * 1024;

/** Where a finished upload's bytes are: a file of mailbox/, or in memory for its row. */
export type Body = { file: string } | { inline: Uint8Array } | { parts: { nonce: string; count: number; written: Promise<void> } };

/** A store call that a store on a remote, replicated log answers later. */
export type Maybe<T> = T | Promise<T>;

/** A message waiting for its recipient: what DELIVER carries, and where its chunks are. */
export interface WaitingMail {
  n: number; // order of arrival: oldest first
  recipient: string;
  sender: string;
  id: Uint8Array;
  size: number;
  /** The encoded DELIVER (SPEC.md §4) the recipient gets first. */
  deliver: Uint8Array;
  created: number;
}

export interface Notice {
  sender: string;
  recipient: string;
  id: Uint8Array;
  kind: NoticeKind;
  status: AckStatus;
  receipt: Uint8Array;
}

/** One upload being written: chunks in order, then finish (a file synced) and hold, or discard. */
export interface Upload {
  write(data: Uint8Array): void;
  /** A file's bytes are on disk, or small bytes are ready for their row: for hold(). */
  finish(): Body;
  discard(): void;
}

export interface MailboxStore {
  setPrekeys(user: string, signed: Uint8Array, replace: boolean, oneTime: Uint8Array[], maxStock: number): Maybe<void>;
  prekeyState(user: string): { oneTime: number; signed: Uint8Array | undefined };
  /** The signed prekey and, within the per-taker limit, one one-time prekey taken from the stock. */
  takeBundle(owner: string, taker: string, now: number, perHour: number): Maybe<{ signed: Uint8Array; oneTime: Uint8Array | undefined } | undefined>;
  /** Bytes of mail waiting for user. */
  bytesFor(user: string): number;
  upload(): Upload;
  /**
   * Finished uploads become waiting mail: their rows in one transaction, then the folder
   * synced. Durable on return: only then may HELD be sent for any of them.
   */
  hold(items: { body: Body; mail: Omit<WaitingMail, "n"> }[]): Maybe<void>;
  /** Waiting mail for user, oldest first, after n = `after`. */
  waiting(user: string, after: number, limit: number): WaitingMail[];
  readChunk(mail: WaitingMail, seq: number, chunkBytes: number): Uint8Array;
  /** Mail answered by its recipient: gone, with a notice for each sender, in one transaction. */
  answered(items: { mail: WaitingMail; notice: Notice }[], now: number): Maybe<void>;
  notices(sender: string): Notice[];
  removeNotice(sender: string, recipient: string, id: Uint8Array): Maybe<void>;
  /** Delete mail and notices older than cutoff; the mail's senders get `expired` notices. */
  expire(cutoff: number, now: number): Maybe<number>;
  /** Bytes on disk in the mailbox's files and database (for the bench). */
  close(): void;
}

export class SqliteMailboxStore implements MailboxStore {
  readonly dir: string;
  #db: Database;
  /** Bytes waiting per recipient, as the rows say: the quota check is one lookup, not a sum. */
  #bytes = new Map<string, number>();

  #durable: boolean;

  /** durable false: a copy rebuilt from elsewhere at every start (a cluster node's), never synced. */
  constructor(dataDir: string, durable = true) {
    this.#durable = durable;
    this.dir = join(dataDir, "mailbox");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, "mailbox.db");
    if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
    this.#db = new Database(path, { create: true, strict: true });
    this.#db.exec("PRAGMA journal_mode = WAL");
    this.#db.exec(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = OFF"); // HELD promises the mail survives a crash
    this.#db.exec("PRAGMA busy_timeout = 5000");
    for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS signed_prekeys (user TEXT PRIMARY KEY, key BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS one_time_prekeys (n INTEGER PRIMARY KEY, user TEXT NOT NULL, key BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS one_time_by_user ON one_time_prekeys (user, n);
      CREATE TABLE IF NOT EXISTS prekey_takes (owner TEXT NOT NULL, taker TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS takes_by_pair ON prekey_takes (owner, taker, at);
      CREATE TABLE IF NOT EXISTS waiting (
        n INTEGER PRIMARY KEY,
        recipient TEXT NOT NULL,
        sender TEXT NOT NULL,
        id BLOB NOT NULL,
        size INTEGER NOT NULL,
        deliver BLOB NOT NULL,
        file TEXT,
        body BLOB,
        created INTEGER NOT NULL,
        UNIQUE (recipient, sender, id)
      );
      CREATE INDEX IF NOT EXISTS waiting_by_recipient ON waiting (recipient, n);
      CREATE INDEX IF NOT EXISTS waiting_by_age ON waiting (created);
      CREATE TABLE IF NOT EXISTS notices (
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        id BLOB NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        receipt BLOB NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (sender, recipient, id)
      );
    `);
    this.#removeStrays();
  }

  /** Files without a row: uploads a crash cut short (never answered HELD). */
  #removeStrays(): void {
    const known = new Set(this.#db.query<{ file: string }, []>("SELECT file FROM waiting WHERE file IS NOT NULL").all().map((r) => r.file));
    for (const f of new Bun.Glob("*").scanSync({ cwd: this.dir })) if (!known.has(f)) rmSync(join(this.dir, f), { force: true });
  }

  setPrekeys(user: string, signed: Uint8Array, replace: boolean, oneTime: Uint8Array[], maxStock: number): void {
    this.#db.transaction(() => {
      this.#db.query("INSERT OR REPLACE INTO signed_prekeys (user, key) VALUES (?, ?)").run(user, signed);
      if (replace) this.#db.query("DELETE FROM one_time_prekeys WHERE user = ?").run(user);
      const have = this.#db.query<{ c: number }, [string]>("SELECT count(*) AS c FROM one_time_prekeys WHERE user = ?").get(user)!.c;
      const add = this.#db.query("INSERT INTO one_time_prekeys (user, key) VALUES (?, ?)");
      for (const k of oneTime.slice(0, Math.max(0, maxStock - have))) add.run(user, k);
    })();
  }

  prekeyState(user: string): { oneTime: number; signed: Uint8Array | undefined } {
    const signed = this.#db.query<{ key: Uint8Array }, [string]>("SELECT key FROM signed_prekeys WHERE user = ?").get(user)?.key;
    const oneTime = this.#db.query<{ c: number }, [string]>("SELECT count(*) AS c FROM one_time_prekeys WHERE user = ?").get(user)!.c;
    return { oneTime, signed };
  }

  takeBundle(owner: string, taker: string, now: number, perHour: number): { signed: Uint8Array; oneTime: Uint8Array | undefined } | undefined {
    return this.#db.transaction(() => {
      const signed = this.#db.query<{ key: Uint8Array }, [string]>("SELECT key FROM signed_prekeys WHERE user = ?").get(owner)?.key;
      if (!signed) return undefined;
      this.#db.query("DELETE FROM prekey_takes WHERE at < ?").run(now - 3600_000);
      const taken = this.#db.query<{ c: number }, [string, string, number]>("SELECT count(*) AS c FROM prekey_takes WHERE owner = ? AND taker = ? AND at >= ?").get(owner, taker, now - 3600_000)!.c;
      if (taken >= perHour) return { signed, oneTime: undefined };
      const row = this.#db.query<{ n: number; key: Uint8Array }, [string]>("SELECT n, key FROM one_time_prekeys WHERE user = ? ORDER BY n LIMIT 1").get(owner);
      if (!row) return { signed, oneTime: undefined };
      this.#db.query("DELETE FROM one_time_prekeys WHERE n = ?").run(row.n);
      this.#db.query("INSERT INTO prekey_takes (owner, taker, at) VALUES (?, ?, ?)").run(owner, taker, now);
      return { signed, oneTime: row.key };
    })();
  }

  bytesFor(user: string): number {
    let n = this.#bytes.get(user);
    if (n === undefined) {
      n = this.#db.query<{ s: number | null }, [string]>("SELECT sum(size) AS s FROM waiting WHERE recipient = ?").get(user)!.s ?? 0;
      this.#bytes.set(user, n);
    }
    return n;
  }

  #count(user: string, delta: number): void {
    const n = this.#bytes.get(user);
    if (n !== undefined) this.#bytes.set(user, n + delta);
  }

  upload(): Upload {
    // In memory until it outgrows INLINE_MAX; then a file, written as it comes.
    let pieces: Uint8Array[] | undefined = [];
    let buffered = 0;
    let file: string | undefined;
    let fd: number | undefined;
    const close = (): void => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    };
    const put = (data: Uint8Array): void => {
      let off = 0;
      while (off < data.length) off += writeSync(fd!, data, off, data.length - off);
    };
    return {
      write: (data) => {
        if (pieces && buffered + data.length <= INLINE_MAX) {
          pieces.push(data.slice());
          buffered += data.length;
          return;
        }
        if (fd === undefined) {
          file = `${randomBytes(16).toString("hex")}.mail`;
          fd = openSync(join(this.dir, file), "wx", 0o600);
          for (const p of pieces ?? []) put(p);
          pieces = undefined;
        }
        put(data);
      },
      finish: () => {
        if (pieces) {
          const inline = new Uint8Array(buffered);
          let at = 0;
          for (const p of pieces) {
            inline.set(p, at);
            at += p.length;
          }
          return { inline };
        }
        if (this.#durable) fsyncSync(fd!);
        close();
        return { file: file! };
      },
      discard: () => {
        close();
        if (file) rmSync(join(this.dir, file), { force: true });
      },
    };
  }

  hold(items: { body: Body; mail: Omit<WaitingMail, "n"> }[]): void {
    const replaced: { file: string | null; size: number; recipient: string }[] = [];
    this.#db.transaction(() => {
      for (const { body, mail } of items) {
        const old = this.#db
          .query<{ file: string | null; size: number }, [string, string, Uint8Array]>("SELECT file, size FROM waiting WHERE recipient = ? AND sender = ? AND id = ?")
          .get(mail.recipient, mail.sender, mail.id);
        if (old) {
          this.#db.query("DELETE FROM waiting WHERE recipient = ? AND sender = ? AND id = ?").run(mail.recipient, mail.sender, mail.id);
          replaced.push({ ...old, recipient: mail.recipient });
        }
        this.#db
          .query("INSERT INTO waiting (recipient, sender, id, size, deliver, file, body, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
          .run(mail.recipient, mail.sender, mail.id, mail.size, mail.deliver, "file" in body ? body.file : null, "inline" in body ? body.inline : null, mail.created);
      }
    })();
    // New files' names must be durable too, not only their bytes.
    if (this.#durable && items.some((i) => "file" in i.body)) {
      const dfd = openSync(this.dir, "r");
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    }
    for (const { mail } of items) this.#count(mail.recipient, mail.size);
    for (const r of replaced) {
      this.#count(r.recipient, -r.size);
      if (r.file) rmSync(join(this.dir, r.file), { force: true });
    }
  }

  waiting(user: string, after: number, limit: number): WaitingMail[] {
    return this.#db
      .query<WaitingMail, [string, number, number]>(
        "SELECT n, recipient, sender, id, size, deliver, created FROM waiting WHERE recipient = ? AND n > ? ORDER BY n LIMIT ?",
      )
      .all(user, after, limit);
  }

  readChunk(mail: WaitingMail, seq: number, chunkBytes: number): Uint8Array {
    const start = seq * chunkBytes;
    const len = Math.min(chunkBytes, mail.size - start);
    if (mail.size <= INLINE_MAX) {
      const body = this.#db.query<{ b: Uint8Array | null }, [number, number, number]>("SELECT substr(body, ?, ?) AS b FROM waiting WHERE n = ?").get(start + 1, len, mail.n)?.b;
      if (body && body.length === len) return body;
    }
    const row = this.#db.query<{ file: string | null }, [number]>("SELECT file FROM waiting WHERE n = ?").get(mail.n);
    if (!row?.file) throw new Error("waiting mail gone");
    const out = new Uint8Array(len);
    const fd = openSync(join(this.dir, row.file), "r");
    try {
      let got = 0;
      while (got < len) {
        const n = readSync(fd, out, got, len - got, start + got);
        if (n === 0) throw new Error("waiting mail file cut short");
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }

  answered(items: { mail: WaitingMail; notice: Notice }[], now: number): void {
    const files: string[] = [];
    this.#db.transaction(() => {
      for (const { mail, notice } of items) {
        const row = this.#db.query<{ file: string | null }, [number]>("SELECT file FROM waiting WHERE n = ?").get(mail.n);
        if (row?.file) files.push(row.file);
        if (row) this.#count(mail.recipient, -mail.size);
        this.#db.query("DELETE FROM waiting WHERE n = ?").run(mail.n);
        this.#putNotice(notice, now);
      }
    })();
    for (const f of files) rmSync(join(this.dir, f), { force: true });
  }

  /** A mirror's copy of waiting mail another process removed (answered or expired). */
  remove(recipient: string, sender: string, id: Uint8Array): void {
    const row = this.#db
      .query<{ n: number; file: string | null; size: number }, [string, string, Uint8Array]>("SELECT n, file, size FROM waiting WHERE recipient = ? AND sender = ? AND id = ?")
      .get(recipient, sender, id);
    if (!row) return;
    this.#db.query("DELETE FROM waiting WHERE n = ?").run(row.n);
    this.#count(recipient, -row.size);
    if (row.file) rmSync(join(this.dir, row.file), { force: true });
  }

  /** Waiting mail older than cutoff, for a store that expires it elsewhere. */
  older(cutoff: number): WaitingMail[] {
    return this.#db.query<WaitingMail, [number]>("SELECT n, recipient, sender, id, size, deliver, created FROM waiting WHERE created < ?").all(cutoff);
  }

  putNotice(n: Notice, now: number): void {
    this.#putNotice(n, now);
  }

  #putNotice(n: Notice, now: number): void {
    this.#db
      .query("INSERT OR REPLACE INTO notices (sender, recipient, id, kind, status, receipt, created) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(n.sender, n.recipient, n.id, n.kind, n.status, n.receipt, now);
  }

  notices(sender: string): Notice[] {
    return this.#db
      .query<Notice, [string]>("SELECT sender, recipient, id, kind, status, receipt FROM notices WHERE sender = ? ORDER BY created")
      .all(sender);
  }

  removeNotice(sender: string, recipient: string, id: Uint8Array): void {
    this.#db.query("DELETE FROM notices WHERE sender = ? AND recipient = ? AND id = ?").run(sender, recipient, id);
  }

  expire(cutoff: number, now: number): number {
    const old = this.#db
      .query<{ n: number; sender: string; recipient: string; id: Uint8Array; file: string | null }, [number]>(
        "SELECT n, sender, recipient, id, file FROM waiting WHERE created < ?",
      )
      .all(cutoff);
    this.#db.transaction(() => {
      this.#db.query("DELETE FROM notices WHERE created < ?").run(cutoff);
      for (const m of old) {
        this.#db.query("DELETE FROM waiting WHERE n = ?").run(m.n);
        this.#putNotice({ sender: m.sender, recipient: m.recipient, id: m.id, kind: "expired", status: "rejected", receipt: new Uint8Array(32) }, now);
      }
    })();
    for (const m of old) if (m.file) rmSync(join(this.dir, m.file), { force: true });
    if (old.length > 0) this.#bytes.clear(); // counted again from the rows when next asked
    return old.length;
  }

  close(): void {
    this.#db.close();
  }
}
