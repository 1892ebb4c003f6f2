// The client's encrypted message store in bun:sqlite (CLIENT.md §1.2): the schema and every
// statement. Its boxes and wrapped keys are store-keys.ts (§7.3), its attachment files
// attachment-files.ts (§7.1, §7.5). Subject, body, names and attachment bytes are ciphertext
// on disk; who, when and how big are not. The transmission keys are never stored.

import { Database } from "bun:sqlite";
import { ProtocolError } from "../protocol/errors.ts";
import { toHex } from "../protocol/bytes.ts";
import { randomBytes } from "../protocol/primitives.ts";
import type { AttachmentMeta } from "../protocol/envelope.ts";
import { AttachmentWriter } from "./attachment-writer.ts";
import { AttachmentFiles, attachmentsDir } from "./attachment-files.ts";
import { StoreKeys, type StoredContent } from "./store-keys.ts";
import { CHANGE_META, openKeys, sealKeys, type PendingChange } from "./store-change.ts";
import type { UserKeys } from "../protocol/keys.ts";

export class WrongPasswordError extends Error {
  constructor() {
    super("wrong password: it does not open this data dir's store");
    this.name = "WrongPasswordError";
  }
}

export type Folder = "in" | "out";
/** waiting: held in the recipient's mailbox at the relay (SPEC.md §12.5), flag W. */
export type DeliveryState = "queued" | "delivered" | "held" | "failed" | "waiting";

/** A prekey's secrets, as the recipient opens an envelope sealed to it (SPEC.md §12.1). */
export interface PrekeySecret {
  kind: "signed" | "one-time";
  pub: Uint8Array;
  secret: Uint8Array; // X25519
  kemSeed: Uint8Array; // ML-KEM-768 seed, 64 bytes
}

/** A prekey as announced: its public halves and signature. */
export interface PrekeyRow {
  kind: "signed" | "one-time";
  pub: Uint8Array;
  kemPub: Uint8Array;
  issued: number;
  sig: Uint8Array;
}

export interface MessageSummary {
  id: string;
  folder: Folder;
  /** In the Trash (CLIENT.md §1.2 `trashed`): listed there only, until restored or emptied. */
  trashed: boolean;
  from: string;
  to: string[];
  subject: string;
  date: number;
  flags: string;
  attachments: AttachmentMeta[];
}

/** A message to save, sent or received: its attachments are already written, each under its `att`. */
export interface NewMessage {
  id: string;
  from: string;
  to: string[];
  date: number;
  subject: string;
  body: string;
  attachments: { att: string; name: string; size: number }[];
}

export interface Delivery {
  recipient: string;
  state: DeliveryState;
  error: string | null;
}

export interface Contact {
  user: string;
  identity: Uint8Array;
  firstSeen: number;
  changedIdentity: Uint8Array | null;
  changedAt: number | null;
  /** When their pin last moved by their signed statement (a password change, SPEC.md §5.5). */
  passwordChangedAt: number | null;
}

/** The columns of `messages` a MessageRow holds, for every query that reads one. */
const MESSAGE_COLUMNS = "rid, id, folder, sender, recipients, date, unread, trashed, wrapped_key, header";

/** The schema version this code writes (`PRAGMA user_version`); older stores are migrated at open. */
export const SCHEMA_VERSION = 2;

/** A saved Send Mail form (CLIENT.md §1.2 `drafts`): everything typed, and the uploads it holds. */
export interface DraftContent {
  to: string;
  subject: string;
  body: string;
  attachments: { att: string; name: string; size: number }[];
}

export interface Draft extends DraftContent {
  id: string;
  updated: number;
}

interface MessageRow {
  rid: number;
  id: string;
  folder: Folder;
  sender: string;
  recipients: string;
  date: number;
  unread: number;
  trashed: number | null;
  wrapped_key: Uint8Array;
  header: Uint8Array;
}

/** What the user is told when the data dir's disk is full (the API answers 507). */
export const DISK_FULL = "the disk of the data dir is full: free some space and try again";

/** A write failed for want of space: the file system's or SQLite's way of saying so. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" || code === "SQLITE_FULL";
}

/**
 * The columns of `deliveries`, written once: open() creates the table with them and migrate()
 * rebuilds an older table into them, so the two cannot drift apart.
 */
const DELIVERIES_COLUMNS = `(
  rid INTEGER NOT NULL REFERENCES messages (rid) ON DELETE CASCADE,
  recipient TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'held', 'failed', 'waiting')),
  error TEXT,
  updated INTEGER NOT NULL,
  receipt BLOB,
  PRIMARY KEY (rid, recipient)
)`;

export class Store {
  readonly db: Database;
  /** The folder holding one file per attachment (CLIENT.md §1.1). */
  readonly files: string;
  #keys: StoreKeys;
  #attachments: AttachmentFiles;
  #writers = new Map<string, AttachmentWriter>();
  #change: PendingChange | undefined;

  private constructor(db: Database, storeKey: Uint8Array, attachments: AttachmentFiles) {
    this.db = db;
    this.#keys = new StoreKeys(storeKey);
    this.#attachments = attachments;
    this.files = attachments.dir;
  }

  /** Open (or create) the store; a store key that does not open it is a wrong password. */
  static open(path: string, storeKey: Uint8Array): Store {
    const db = new Database(path, { create: true, strict: true });
    // A store made before attachments moved to files got 64 KiB pages for their 60 KiB
    // chunk rows; such a store keeps them, a new one has SQLite's default.
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL"); // an ACK promises the message survives a crash
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA foreign_keys = ON");
    // Deleted rows (an emptied Trash, a discarded draft) are overwritten with zeros in the
    // database file instead of left in free pages (CLIENT.md §1.5, SECURITY.md §8).
    db.exec("PRAGMA secure_delete = ON");
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
      CREATE TABLE IF NOT EXISTS messages (
        rid INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        folder TEXT NOT NULL CHECK (folder IN ('in', 'out')),
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        date INTEGER NOT NULL,
        received INTEGER NOT NULL,
        unread INTEGER NOT NULL DEFAULT 0,
        wrapped_key BLOB NOT NULL,
        header BLOB NOT NULL,
        trashed INTEGER,
        UNIQUE (folder, sender, id)
      );
      -- idTakenByOther() looks up an id for every message received: without this index
      -- that was a scan of the whole store (bench/: filling 100,000 took minutes).
      CREATE INDEX IF NOT EXISTS messages_by_id ON messages (id);
      CREATE TABLE IF NOT EXISTS deliveries ${DELIVERIES_COLUMNS};
      CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state, recipient);
      CREATE TABLE IF NOT EXISTS attachments (
        att TEXT PRIMARY KEY,
        rid INTEGER REFERENCES messages (rid) ON DELETE CASCADE,
        idx INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL DEFAULT 0,
        wrapped_key BLOB NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('draft', 'incoming', 'stored')),
        created INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS attachments_by_message ON attachments (rid, idx);
      CREATE TABLE IF NOT EXISTS contacts (
        user TEXT PRIMARY KEY,
        identity BLOB NOT NULL,
        first_seen INTEGER NOT NULL,
        changed_identity BLOB,
        changed_at INTEGER
      );
      CREATE TABLE IF NOT EXISTS prekeys (
        pub BLOB PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('signed', 'one-time')),
        kem_pub BLOB NOT NULL,
        issued INTEGER NOT NULL,
        sig BLOB NOT NULL,
        wrapped BLOB NOT NULL,
        retired INTEGER
      );
      CREATE TABLE IF NOT EXISTS drafts (
        id TEXT PRIMARY KEY,
        updated INTEGER NOT NULL,
        wrapped_key BLOB NOT NULL,
        box BLOB NOT NULL
      );
    `);
    // When a contact's key change was explained by their signed statement (SPEC.md §5.5).
    const cols = db.query<{ name: string }, []>("PRAGMA table_info(contacts)").all();
    if (!cols.some((c) => c.name === "password_changed_at")) db.exec("ALTER TABLE contacts ADD COLUMN password_changed_at INTEGER");
    migrate(db);
    // Only after migrate(): they name `trashed`, which a store of version 0 lacks until then.
    // Partial, so that a folder's page reads no Trash row; `trashed` is a column too (always
    // NULL there), which makes them covering: the counts in every status and every page's
    // unread badge are counted in the index alone, not row by row in the table.
    db.exec(`
      CREATE INDEX IF NOT EXISTS messages_listed ON messages (folder, trashed, date DESC, rid DESC) WHERE trashed IS NULL;
      CREATE INDEX IF NOT EXISTS messages_unread_listed ON messages (folder, trashed) WHERE unread = 1 AND trashed IS NULL;
    `);
    const store = new Store(db, storeKey, new AttachmentFiles(attachmentsDir(path)));
    const verifier = store.getMeta("verifier");
    if (!verifier) store.setMeta("verifier", store.#keys.newVerifier());
    else if (!store.#openChange(storeKey, store.#keys.opensVerifier(verifier))) {
      db.close();
      throw new WrongPasswordError();
    }
    // A killed process can leave half-received attachments; they were never acknowledged.
    db.query("DELETE FROM attachments WHERE state = 'incoming'").run();
    store.#moveChunkRows();
    store.#removeStrayFiles();
    return store;
  }

  /**
   * A change under way (CLIENT.md §1.6): with the old store key (`current`), open the new
   * keys; with the new one, open the old keys and work under the old store key until the
   * commit. False when `storeKey` is neither.
   */
  #openChange(storeKey: Uint8Array, current: boolean): boolean {
    const statement = this.getMeta(CHANGE_META.statement);
    const next = this.getMeta(CHANGE_META.next);
    const old = this.getMeta(CHANGE_META.old);
    if (!statement || !next || !old) return current;
    if (current) {
      const nextKeys = openKeys(storeKey, "next", next);
      const oldKeys = nextKeys && openKeys(nextKeys.storeKey, "old", old);
      if (nextKeys && oldKeys) this.#change = { old: oldKeys, next: nextKeys, statement };
      return true;
    }
    const oldKeys = openKeys(storeKey, "old", old);
    const nextKeys = oldKeys && openKeys(oldKeys.storeKey, "next", next);
    if (!oldKeys || !nextKeys) return false;
    this.#keys = new StoreKeys(oldKeys.storeKey);
    if (!this.#keys.opensVerifier(this.getMeta("verifier")!)) return false;
    this.#change = { old: oldKeys, next: nextKeys, statement };
    return true;
  }

  /** The password change under way, if any: both key sets and the statement. */
  get pendingChange(): PendingChange | undefined {
    return this.#change;
  }

  /**
   * Step 1 of a change: from now on both passwords open the store. Nothing is re-wrapped
   * yet; the relay has not been asked. One transaction.
   */
  prepareChange(old: UserKeys, next: UserKeys, statement: Uint8Array): void {
    if (!this.#keys.opensVerifier(this.getMeta("verifier")!) || !new StoreKeys(old.storeKey).opensVerifier(this.getMeta("verifier")!)) {
      throw new WrongPasswordError();
    }
    this.db.transaction(() => {
      this.setMeta(CHANGE_META.verifier, new StoreKeys(next.storeKey).newVerifier());
      this.setMeta(CHANGE_META.next, sealKeys(old.storeKey, "next", next));
      this.setMeta(CHANGE_META.old, sealKeys(next.storeKey, "old", old));
      this.setMeta(CHANGE_META.statement, statement);
    })();
    this.#change = { old, next, statement };
  }

  /**
   * Step 3, once the relay holds the new code: every wrapped key (messages, attachments,
   * drafts) is re-wrapped under the new store key, the verifier replaced and the old keys
   * dropped, in one transaction. A crash inside it leaves step 1's state.
   */
  commitChange(): void {
    const change = this.#change;
    if (!change) throw new Error("no password change under way");
    const next = new StoreKeys(change.next.storeKey);
    // The old wrappings and the sealed keys are overwritten, not left in free pages, and the
    // WAL is folded into the file afterwards, so the old password opens nothing left here
    // (a backup copied before the change still opens with it: SECURITY.md §8).
    this.db.exec("PRAGMA secure_delete = ON");
    this.db.transaction(() => {
      const msgs = this.db.query<{ rid: number; id: string; folder: Folder; wrapped_key: Uint8Array }, []>("SELECT rid, id, folder, wrapped_key FROM messages").all();
      const setMsg = this.db.query("UPDATE messages SET wrapped_key = ? WHERE rid = ?");
      for (const m of msgs) setMsg.run(this.#keys.rewrap(next, `message ${m.folder}`, m.id, m.wrapped_key), m.rid);
      const atts = this.db.query<{ att: string; wrapped_key: Uint8Array }, []>("SELECT att, wrapped_key FROM attachments").all();
      const setAtt = this.db.query("UPDATE attachments SET wrapped_key = ? WHERE att = ?");
      for (const a of atts) setAtt.run(this.#keys.rewrap(next, "attachment", a.att, a.wrapped_key), a.att);
      const drafts = this.db.query<{ id: string; wrapped_key: Uint8Array }, []>("SELECT id, wrapped_key FROM drafts").all();
      const setDraft = this.db.query("UPDATE drafts SET wrapped_key = ? WHERE id = ?");
      for (const d of drafts) setDraft.run(this.#keys.rewrap(next, "draft", d.id, d.wrapped_key), d.id);
      // Prekeys are signed by the old identity: kept (mail sealed to them may still wait),
      // retired, so that the next connection publishes new ones under the new identity.
      const pks = this.db.query<{ pub: Uint8Array; wrapped: Uint8Array }, []>("SELECT pub, wrapped FROM prekeys").all();
      const setPk = this.db.query("UPDATE prekeys SET wrapped = ?, retired = coalesce(retired, ?) WHERE pub = ?");
      for (const p of pks) setPk.run(this.#keys.rewrap(next, "prekey", toHex(p.pub), p.wrapped), Date.now(), p.pub);
      this.setMeta("verifier", this.getMeta(CHANGE_META.verifier)!);
      for (const k of Object.values(CHANGE_META)) this.db.query("DELETE FROM meta WHERE k = ?").run(k);
    })();
    this.#keys = next;
    this.#change = undefined;
    this.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  /** The relay refused the change for good: forget it; only the old password opens the store. */
  abortChange(): void {
    this.db.transaction(() => {
      for (const k of Object.values(CHANGE_META)) this.db.query("DELETE FROM meta WHERE k = ?").run(k);
    })();
    this.#change = undefined;
  }

  close(): void {
    for (const w of [...this.#writers.values()]) w.close();
    this.db.close();
  }

  /**
   * A store written before attachments moved to files kept their STREAM chunks as rows of
   * a `chunks` table. Each attachment's rows, in order, are exactly its file: write it,
   * sync it, then drop the rows. A crash in between writes the same file again next time.
   */
  #moveChunkRows(): void {
    const table = this.db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chunks'").get();
    if (!table) return;
    const atts = this.db.query<{ att: string }, []>("SELECT DISTINCT att FROM chunks").all();
    const rows = this.db.query<{ data: Uint8Array }, [string]>("SELECT data FROM chunks WHERE att = ? ORDER BY seq");
    for (const { att } of atts) {
      this.#attachments.writeWhole(att, (function* () {
        for (const { data } of rows.iterate(att)) yield data;
      })());
      this.db.query("DELETE FROM chunks WHERE att = ?").run(att);
    }
    this.db.exec("DROP TABLE chunks");
  }

  /** Files no attachment row names: left by a crash between a row's change and its file's. */
  #removeStrayFiles(): void {
    const known = this.db.query<{ n: number }, [string]>("SELECT count(*) AS n FROM attachments WHERE att = ?");
    this.#attachments.removeStrays((att) => known.get(att)!.n > 0);
  }

  getMeta(k: string): Uint8Array | undefined {
    return this.db.query<{ v: Uint8Array }, [string]>("SELECT v FROM meta WHERE k = ?").get(k)?.v;
  }
  setMeta(k: string, v: Uint8Array): void {
    this.db.query("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)").run(k, v);
  }

  // --- attachments ---

  /** Start an attachment: a draft (uploaded for sending) or incoming (being received). */
  newAttachment(state: "draft" | "incoming", now: number): AttachmentWriter {
    const att = Buffer.from(randomBytes(16)).toString("hex");
    const key = randomBytes(32);
    // The row first: a file without one is removed as stray at the next open.
    this.db
      .query("INSERT INTO attachments (att, wrapped_key, state, created) VALUES (?, ?, ?, ?)")
      .run(att, this.#keys.wrapAttachmentKey(att, key), state, now);
    let fd: number;
    try {
      fd = this.#attachments.create(att);
    } catch (e) {
      this.db.query("DELETE FROM attachments WHERE att = ?").run(att);
      throw e;
    }
    const w = new AttachmentWriter(att, key, {
      fd,
      done: (size) => {
        this.#attachments.syncDir();
        this.db.query("UPDATE attachments SET size = ? WHERE att = ?").run(size, att);
      },
      closed: () => this.#writers.delete(att),
    });
    this.#writers.set(att, w);
    return w;
  }

  /** Forget an attachment that was never part of a message: its row, then its file. */
  discardAttachment(att: string): void {
    this.#writers.get(att)?.close();
    try {
      this.db.query("DELETE FROM attachments WHERE att = ?").run(att);
    } finally {
      // Even when the row cannot go (a full disk refuses SQLite's journal too), the file
      // does: that is the space to give back. A row left without a file is a draft or an
      // incoming attachment, which no message owns; the next open or prune removes it.
      try {
        this.#attachments.remove(att);
      } catch {
        // Still open elsewhere (Windows refuses then): with its row gone, the next open
        // removes it as a stray file.
      }
    }
  }

  draftSize(att: string): number | undefined {
    return this.db
      .query<{ size: number }, [string]>("SELECT size FROM attachments WHERE att = ? AND state = 'draft'")
      .get(att)?.size;
  }

  /**
   * Drop uploads never sent and older than `olderThan`: alone they are only useful for
   * minutes. Those a saved draft holds stay as long as it does.
   */
  pruneDrafts(olderThan: number): void {
    const held = new Set(this.drafts().flatMap((d) => d.attachments.map((a) => a.att)));
    const old = this.db
      .query<{ att: string }, [number]>("SELECT att FROM attachments WHERE state = 'draft' AND created < ?")
      .all(olderThan);
    for (const { att } of old) if (!held.has(att)) this.discardAttachment(att);
  }

  /** Plaintext of attachment idx of a message, chunk by chunk. */
  *readAttachment(rid: number, idx: number): Generator<Uint8Array> {
    const a = this.db
      .query<{ att: string; wrapped_key: Uint8Array; size: number }, [number, number]>(
        "SELECT att, wrapped_key, size FROM attachments WHERE rid = ? AND idx = ? AND state = 'stored'",
      )
      .get(rid, idx);
    if (!a) throw new Error("no such attachment");
    yield* this.#attachments.read(a.att, this.#keys.unwrapAttachmentKey(a.att, a.wrapped_key), a.size);
  }

  /**
   * Plaintext of an attachment while `w` is still writing it, chunk by chunk as its file grows
   * (the outbox sends an upload before it ends): `size` is the size the upload declared.
   */
  followAttachment(w: AttachmentWriter, size: number): AsyncGenerator<Uint8Array> {
    const a = this.db.query<{ wrapped_key: Uint8Array }, [string]>("SELECT wrapped_key FROM attachments WHERE att = ?").get(w.att);
    if (!a) throw new Error("no such attachment");
    return this.#attachments.follow(w.att, this.#keys.unwrapAttachmentKey(w.att, a.wrapped_key), size, (bytes) => w.reached(bytes));
  }

  // --- messages ---

  #openContent(row: MessageRow): StoredContent {
    return this.#keys.openContent(row.folder, row.id, row.wrapped_key, row.header);
  }

  /** The message row with its sealed content; received mail starts unread. Returns its rid. */
  #insertMessage(
    folder: Folder,
    m: { id: string; from: string; to: string[]; date: number; received: number; subject: string; body: string; attachments: AttachmentMeta[] },
  ): number {
    const { wrapped, header } = this.#keys.sealContent(folder, m.id, {
      subject: m.subject,
      body: m.body,
      attachments: m.attachments.map(({ name, size }) => ({ name, size })),
    });
    return this.db
      .query<{ rid: number }, [string, string, string, string, number, number, number, Uint8Array, Uint8Array]>(
        `INSERT INTO messages (id, folder, sender, recipients, date, received, unread, wrapped_key, header)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING rid`,
      )
      .get(m.id, folder, m.from, JSON.stringify(m.to), m.date, m.received, folder === "in" ? 1 : 0, wrapped, header)!.rid;
  }

  /**
   * Save a message to send: the sent copy, one queued delivery per recipient, and the
   * draft attachments adopted as its own, in one transaction.
   */
  saveOutgoing(m: NewMessage): number {
    return this.db.transaction(() => {
      const rid = this.#insertMessage("out", { ...m, received: m.date });
      const unique = [...new Set(m.to)];
      for (const r of unique) {
        this.db
          .query("INSERT INTO deliveries (rid, recipient, state, updated) VALUES (?, ?, 'queued', ?)")
          .run(rid, r, m.date);
      }
      m.attachments.forEach((a, idx) => {
        const changed = this.db
          .query("UPDATE attachments SET rid = ?, idx = ?, state = 'stored' WHERE att = ? AND state = 'draft'")
          .run(rid, idx, a.att).changes;
        if (changed !== 1) throw new Error(`attachment ${a.att} is not an uploaded draft`);
      });
      return rid;
    })();
  }

  /** Has this sender's message already been stored? (retries must not duplicate) */
  hasIncoming(from: string, id: string): boolean {
    return (
      this.db
        .query("SELECT 1 FROM messages WHERE folder = 'in' AND sender = ? AND id = ?")
        .get(from, id) !== null
    );
  }

  /**
   * Does this id already name a message from someone other than `from` (received, or one
   * we sent)? Ids are 128 random bits: a reuse is someone trying to shadow that message.
   */
  idTakenByOther(id: string, from: string): boolean {
    return this.db.query("SELECT 1 FROM messages WHERE id = ? AND sender != ?").get(id, from) !== null;
  }

  /**
   * Commit a received message and its (already written) attachments in one transaction.
   * Returns false when it was already there: the caller acknowledges a duplicate.
   */
  saveIncoming(m: NewMessage & { received: number }): boolean {
    return this.db.transaction(() => {
      if (this.hasIncoming(m.from, m.id)) {
        for (const a of m.attachments) this.discardAttachment(a.att);
        return false;
      }
      if (this.idTakenByOther(m.id, m.from)) throw new ProtocolError("malformed", "message id taken by another sender");
      const rid = this.#insertMessage("in", m);
      m.attachments.forEach((a, idx) => {
        this.db
          .query("UPDATE attachments SET rid = ?, idx = ?, state = 'stored' WHERE att = ? AND state = 'incoming'")
          .run(rid, idx, a.att);
      });
      return true;
    })();
  }

  /** Summaries of a page of rows: the delivery states of its sent messages in one query. */
  #summaries(rows: MessageRow[]): MessageSummary[] {
    const sent = rows.filter((r) => r.folder === "out").map((r) => r.rid);
    const states = new Map<number, DeliveryState[]>();
    if (sent.length > 0) {
      const q = this.db.query<{ rid: number; state: DeliveryState }, [string]>(
        "SELECT rid, state FROM deliveries WHERE rid IN (SELECT value FROM json_each(?))",
      );
      for (const d of q.iterate(JSON.stringify(sent))) {
        const list = states.get(d.rid);
        if (list) list.push(d.state);
        else states.set(d.rid, [d.state]);
      }
    }
    return rows.map((r) => this.#summary(r, states.get(r.rid) ?? []));
  }

  /** states: the message's delivery states (sent mail only). */
  #summary(row: MessageRow, states: DeliveryState[]): MessageSummary {
    const c = this.#openContent(row);
    return {
      id: row.id,
      folder: row.folder,
      trashed: row.trashed !== null,
      from: row.sender,
      to: JSON.parse(row.recipients) as string[],
      subject: c.subject,
      date: row.date,
      flags: flagsOf(row, states),
      attachments: c.attachments,
    };
  }

  list(folder: Folder, opts: { limit?: number; offset?: number } = {}): MessageSummary[] {
    const rows = this.db
      .query<MessageRow, [string, number, number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages
         WHERE folder = ? AND trashed IS NULL ORDER BY date DESC, rid DESC LIMIT ? OFFSET ?`,
      )
      .all(folder, opts.limit ?? -1, opts.offset ?? 0);
    return this.#summaries(rows);
  }

  /** Sent messages still waiting for at least one recipient, queued or held (the Queued folder). */
  listWaiting(opts: { limit?: number; offset?: number } = {}): MessageSummary[] {
    const rows = this.db
      .query<MessageRow, [number, number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages m
         WHERE folder = 'out' AND trashed IS NULL AND EXISTS (SELECT 1 FROM deliveries d WHERE d.rid = m.rid AND d.state IN ('queued', 'held'))
         ORDER BY date DESC, rid DESC LIMIT ? OFFSET ?`,
      )
      .all(opts.limit ?? -1, opts.offset ?? 0);
    return this.#summaries(rows);
  }

  /** Summaries for these rows, in the order given (search results). */
  byRids(rids: number[]): MessageSummary[] {
    const rows = this.db
      .query<MessageRow, [string]>(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE rid IN (SELECT value FROM json_each(?))`)
      .all(JSON.stringify(rids));
    const byRid = new Map(rows.map((r) => [r.rid, r]));
    return this.#summaries(rids.flatMap((rid) => byRid.get(rid) ?? []));
  }

  /**
   * Decrypted searchable text of every message after rid, oldest first. The caller keeps
   * it in memory only: a plaintext index on disk would undo the store's encryption.
   */
  *textSince(rid: number): Generator<{ rid: number; folder: Folder; date: number; text: string }> {
    const q = this.db.query<MessageRow, [number]>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages
       WHERE rid > ? ORDER BY rid`,
    );
    for (const row of q.iterate(rid)) {
      const c = this.#openContent(row);
      const text = [row.sender, row.recipients, c.subject, c.body, ...c.attachments.map((a) => a.name)].join("\n");
      yield { rid: row.rid, folder: row.folder, date: row.date, text: text.toLowerCase() };
    }
  }

  count(folder: Folder, unreadOnly = false): number {
    return this.db
      .query<{ n: number }, [string]>(
        `SELECT count(*) AS n FROM messages WHERE folder = ? AND trashed IS NULL${unreadOnly ? " AND unread = 1" : ""}`,
      )
      .get(folder)!.n;
  }

  /** Find by id; the inbox copy first when a message was sent to oneself. */
  find(id: string): (MessageSummary & { rid: number; body: string; deliveries: Delivery[] }) | undefined {
    const row = this.db
      .query<MessageRow, [string]>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages
         WHERE id = ? ORDER BY folder = 'in' DESC, rid LIMIT 1`,
      )
      .get(id);
    if (!row) return undefined;
    const c = this.#openContent(row);
    const deliveries = row.folder === "out" ? this.deliveries(row.rid) : [];
    return {
      ...this.#summary(row, deliveries.map((d) => d.state)),
      rid: row.rid,
      body: c.body,
      deliveries,
    };
  }

  markRead(rid: number): void {
    this.db.query("UPDATE messages SET unread = 0 WHERE rid = ?").run(rid);
  }

  /** Received mail only: sent copies have no unread state. False when there is no such row. */
  markUnread(rid: number): boolean {
    return this.db.query("UPDATE messages SET unread = 1 WHERE rid = ? AND folder = 'in'").run(rid).changes === 1;
  }

  // --- the Trash (CLIENT.md §1.2 `trashed`, §1.5 "Emptying the Trash") ---

  /** Move a message to the Trash; false if it was already there. */
  trash(rid: number, now: number): boolean {
    return this.db.query("UPDATE messages SET trashed = ? WHERE rid = ? AND trashed IS NULL").run(now, rid).changes === 1;
  }

  /** Back to the folder it came from (its `folder` never changed); false if it was not in the Trash. */
  restore(rid: number): boolean {
    return this.db.query("UPDATE messages SET trashed = NULL WHERE rid = ? AND trashed IS NOT NULL").run(rid).changes === 1;
  }

  /** The Trash, most recently deleted first. */
  listTrash(opts: { limit?: number; offset?: number } = {}): MessageSummary[] {
    const rows = this.db
      .query<MessageRow, [number, number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages
         WHERE trashed IS NOT NULL ORDER BY trashed DESC, rid DESC LIMIT ? OFFSET ?`,
      )
      .all(opts.limit ?? -1, opts.offset ?? 0);
    return this.#summaries(rows);
  }

  /**
   * Remove every message in the Trash for good: in one transaction its row (and with it its
   * wrapped key, header box, deliveries and attachment rows with their wrapped keys), then
   * each attachment's file. secure_delete zeroes the freed pages; the checkpoint then
   * truncates the WAL, whose frames held copies of them. Returns the rids removed.
   */
  emptyTrash(): number[] {
    const { rids, atts } = this.db.transaction(() => {
      const rids = this.db.query<{ rid: number }, []>("SELECT rid FROM messages WHERE trashed IS NOT NULL").all().map((r) => r.rid);
      const atts = this.db
        .query<{ att: string }, []>("SELECT att FROM attachments WHERE rid IN (SELECT rid FROM messages WHERE trashed IS NOT NULL)")
        .all()
        .map((a) => a.att);
      this.db.query("DELETE FROM messages WHERE trashed IS NOT NULL").run();
      return { rids, atts };
    })();
    this.#forgetFiles(atts);
    return rids;
  }

  /** Unlink attachment files whose rows are gone, make that durable, and shrink the WAL. */
  #forgetFiles(atts: string[]): void {
    for (const att of atts) {
      try {
        this.#attachments.remove(att);
      } catch {
        // Still open elsewhere (Windows): with its row gone, the next open removes it as stray.
      }
    }
    if (atts.length > 0) this.#attachments.syncDir();
    this.db.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
  }

  // --- drafts of the Send Mail form (CLIENT.md §1.2 `drafts`) ---

  /** Save a draft (new, or over the one with this id). */
  saveDraft(id: string, content: DraftContent, now: number): void {
    const { wrapped, box } = this.#keys.sealDraft(id, content);
    this.db
      .query("INSERT OR REPLACE INTO drafts (id, updated, wrapped_key, box) VALUES (?, ?, ?, ?)")
      .run(id, now, wrapped, box);
  }

  draft(id: string): Draft | undefined {
    const r = this.db
      .query<{ id: string; updated: number; wrapped_key: Uint8Array; box: Uint8Array }, [string]>("SELECT id, updated, wrapped_key, box FROM drafts WHERE id = ?")
      .get(id);
    return r ? { id: r.id, updated: r.updated, ...this.#keys.openDraft<DraftContent>(r.id, r.wrapped_key, r.box) } : undefined;
  }

  /** Every draft, most recently saved first. */
  drafts(): Draft[] {
    return this.db
      .query<{ id: string }, []>("SELECT id FROM drafts ORDER BY updated DESC, id")
      .all()
      .map((r) => this.draft(r.id)!);
  }

  /**
   * Forget a draft and its uploads, rows then files, except those in `keep` (sent with the
   * message it became: they are that message's now). False if there was no such draft.
   */
  deleteDraft(id: string, keep: Iterable<string> = []): boolean {
    const d = this.draft(id);
    if (!d) return false;
    const kept = new Set(keep);
    const atts = d.attachments.map((a) => a.att).filter((att) => !kept.has(att) && this.draftSize(att) !== undefined);
    this.db.transaction(() => {
      this.db.query("DELETE FROM drafts WHERE id = ?").run(id);
      for (const att of atts) this.db.query("DELETE FROM attachments WHERE att = ? AND state = 'draft'").run(att);
    })();
    this.#forgetFiles(atts);
    return true;
  }

  /** Plaintext of a draft upload (an unsent attachment), chunk by chunk. */
  *readDraftAttachment(att: string): Generator<Uint8Array> {
    const a = this.db
      .query<{ wrapped_key: Uint8Array; size: number }, [string]>("SELECT wrapped_key, size FROM attachments WHERE att = ? AND state = 'draft'")
      .get(att);
    if (!a) throw new Error("no such draft attachment");
    yield* this.#attachments.read(att, this.#keys.unwrapAttachmentKey(att, a.wrapped_key), a.size);
  }

  /**
   * A stored attachment copied into a new draft upload, re-encrypted under a fresh key: what
   * Forward sends without the person uploading it again (CLIENT.md §2.1).
   */
  copyAttachment(rid: number, idx: number, now: number): { att: string; size: number } {
    const w = this.newAttachment("draft", now);
    try {
      for (const chunk of this.readAttachment(rid, idx)) w.write(chunk);
      return { att: w.att, size: w.finish() };
    } catch (e) {
      this.discardAttachment(w.att);
      throw e;
    }
  }

  // --- deliveries (the outbox queue) ---

  deliveries(rid: number): Delivery[] {
    return this.db
      .query<Delivery, [number]>("SELECT recipient, state, error FROM deliveries WHERE rid = ? ORDER BY recipient")
      .all(rid);
  }

  /** Deliveries waiting, oldest first, with what is needed to send them. */
  queued(): { rid: number; id: string; recipient: string }[] {
    return this.db
      .query<{ rid: number; id: string; recipient: string }, []>(
        `SELECT d.rid, m.id, d.recipient FROM deliveries d JOIN messages m USING (rid)
         WHERE d.state = 'queued' ORDER BY m.date, d.rid`,
      )
      .all();
  }

  countQueued(): number {
    return this.db
      .query<{ n: number }, []>("SELECT count(DISTINCT rid) AS n FROM deliveries WHERE state IN ('queued', 'held')")
      .get()!.n;
  }

  setDelivery(rid: number, recipient: string, state: DeliveryState, error: string | null, now: number): void {
    this.db
      .query("UPDATE deliveries SET state = ?, error = ?, updated = ? WHERE rid = ? AND recipient = ?")
      .run(state, error, now, rid, recipient);
  }

  /** Held at the relay (SPEC.md §12.5): the receipt the recipient's ACK must carry. */
  setWaiting(rid: number, recipient: string, receipt: Uint8Array, now: number): void {
    this.db
      .query("UPDATE deliveries SET state = 'waiting', error = NULL, receipt = ?, updated = ? WHERE rid = ? AND recipient = ?")
      .run(receipt, now, rid, recipient);
  }

  /** The waiting delivery of message id to recipient, with the receipt it expects. */
  waitingDelivery(id: string, recipient: string): { rid: number; receipt: Uint8Array } | undefined {
    return (
      this.db
        .query<{ rid: number; receipt: Uint8Array }, [string, string]>(
          `SELECT d.rid, d.receipt FROM deliveries d JOIN messages m USING (rid)
           WHERE m.folder = 'out' AND m.id = ? AND d.recipient = ? AND d.state = 'waiting' AND d.receipt IS NOT NULL`,
        )
        .get(id, recipient) ?? undefined
    );
  }

  // --- prekeys (SPEC.md §12.1): secrets wrapped under the store key ---

  addPrekeys(keys: (PrekeyRow & { secret: Uint8Array; kemSeed: Uint8Array })[]): void {
    const ins = this.db.query("INSERT INTO prekeys (pub, kind, kem_pub, issued, sig, wrapped) VALUES (?, ?, ?, ?, ?, ?)");
    this.db.transaction(() => {
      for (const k of keys) {
        const both = new Uint8Array(96);
        both.set(k.secret, 0);
        both.set(k.kemSeed, 32);
        ins.run(k.pub, k.kind, k.kemPub, k.issued, k.sig, this.#keys.wrapPrekey(toHex(k.pub), both));
        both.fill(0);
      }
    })();
  }

  /** The prekeys not retired: the current signed one and the current generation of one-time ones. */
  currentPrekeys(): PrekeyRow[] {
    return this.db
      .query<{ kind: "signed" | "one-time"; pub: Uint8Array; kem_pub: Uint8Array; issued: number; sig: Uint8Array }, []>(
        "SELECT kind, pub, kem_pub, issued, sig FROM prekeys WHERE retired IS NULL ORDER BY rowid",
      )
      .all()
      .map((r) => ({ kind: r.kind, pub: r.pub, kemPub: r.kem_pub, issued: r.issued, sig: r.sig }));
  }

  prekeySecret(pub: Uint8Array): PrekeySecret | undefined {
    const row = this.db.query<{ kind: "signed" | "one-time"; wrapped: Uint8Array }, [Uint8Array]>("SELECT kind, wrapped FROM prekeys WHERE pub = ?").get(pub);
    if (!row) return undefined;
    const both = this.#keys.unwrapPrekey(toHex(pub), row.wrapped);
    return { kind: row.kind, pub, secret: both.slice(0, 32), kemSeed: both.slice(32, 96) };
  }

  /** Replaced: kept until mail sealed to them can no longer wait at the relay. */
  retirePrekeys(kind: "signed" | "one-time", now: number): void {
    this.db.query("UPDATE prekeys SET retired = ? WHERE kind = ? AND retired IS NULL").run(now, kind);
  }

  /** A one-time secret, used: gone (with secure_delete, overwritten). */
  deletePrekey(pub: Uint8Array): void {
    this.db.query("DELETE FROM prekeys WHERE pub = ? AND kind = 'one-time'").run(pub);
  }

  /** Secrets retired before `before`: nothing sealed to them can still wait at the relay. */
  purgePrekeys(before: number): number {
    return this.db.query("DELETE FROM prekeys WHERE retired IS NOT NULL AND retired < ?").run(before).changes;
  }

  /** A held recipient was accepted: their held deliveries go back to the queue. */
  releaseHeld(recipient: string, now: number): void {
    this.db
      .query("UPDATE deliveries SET state = 'queued', error = NULL, updated = ? WHERE recipient = ? AND state = 'held'")
      .run(now, recipient);
  }

  /** The content of an outgoing message, for sealing it to a recipient. */
  outgoing(rid: number): { id: string; from: string; to: string[]; date: number; content: StoredContent } {
    const row = this.db
      .query<MessageRow, [number]>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE rid = ?`,
      )
      .get(rid);
    if (!row) throw new Error("no such message");
    return {
      id: row.id,
      from: row.sender,
      to: JSON.parse(row.recipients) as string[],
      date: row.date,
      content: this.#openContent(row),
    };
  }

  // --- contacts (identity pins, trust on first use) ---

  contact(user: string): Contact | undefined {
    const r = this.db
      .query<
        { user: string; identity: Uint8Array; first_seen: number; changed_identity: Uint8Array | null; changed_at: number | null; password_changed_at: number | null },
        [string]
      >("SELECT user, identity, first_seen, changed_identity, changed_at, password_changed_at FROM contacts WHERE user = ?")
      .get(user);
    return r
      ? {
          user: r.user,
          identity: r.identity,
          firstSeen: r.first_seen,
          changedIdentity: r.changed_identity,
          changedAt: r.changed_at,
          passwordChangedAt: r.password_changed_at,
        }
      : undefined;
  }

  contacts(): Contact[] {
    return this.db
      .query<{ user: string }, []>("SELECT user FROM contacts ORDER BY user")
      .all()
      .map((r) => this.contact(r.user)!);
  }

  pinIdentity(user: string, identity: Uint8Array, now: number): void {
    this.db
      .query("INSERT OR IGNORE INTO contacts (user, identity, first_seen) VALUES (?, ?, ?)")
      .run(user, identity, now);
  }

  noteIdentityChange(user: string, identity: Uint8Array, now: number): void {
    this.db
      .query("UPDATE contacts SET changed_identity = ?, changed_at = ? WHERE user = ?")
      .run(identity, now, user);
  }

  /**
   * Move the pin from `from` to `to`, explained by the contact's signed statement(s) (SPEC.md
   * §5.5): no hold; a change noted before the statement arrived is cleared and what it held
   * goes back to the queue. Only if the pin is still `from` (one statement, no gap).
   */
  adoptChangedIdentity(user: string, from: Uint8Array, to: Uint8Array, changedAt: number, now: number): boolean {
    return this.db.transaction(() => {
      const moved =
        this.db
          .query("UPDATE contacts SET identity = ?, changed_identity = NULL, changed_at = NULL, password_changed_at = ? WHERE user = ? AND identity = ?")
          .run(to, changedAt, user, from).changes === 1;
      if (moved) this.releaseHeld(user, now);
      return moved;
    })();
  }

  /**
   * Refuse a changed identity: keep the old pin, and fail what was held for the new key
   * (it may be an impostor; the person can write again once the change is explained).
   */
  rejectIdentity(user: string, now: number): boolean {
    return this.db.transaction(() => {
      const changed =
        this.db
          .query("UPDATE contacts SET changed_identity = NULL, changed_at = NULL WHERE user = ? AND changed_identity IS NOT NULL")
          .run(user).changes === 1;
      if (changed) {
        this.db
          .query("UPDATE deliveries SET state = 'failed', error = ?, updated = ? WHERE recipient = ? AND state = 'held'")
          .run(`you rejected ${user}'s new identity key`, now, user);
      }
      return changed;
    })();
  }

  /**
   * Accept the changed identity as the new pin, but only the key the person checked: a
   * hostile relay may have swapped in another one since they read its safety number (the
   * update is one statement, so nothing can slip in between the comparison and the pin).
   * "none" when nothing was pending, "changed" when the pending key is not `key`.
   */
  acceptIdentity(user: string, key: Uint8Array): "accepted" | "none" | "changed" {
    const done = this.db
      .query(
        "UPDATE contacts SET identity = changed_identity, changed_identity = NULL, changed_at = NULL, password_changed_at = NULL WHERE user = ? AND changed_identity = ?",
      )
      .run(user, key).changes === 1;
    if (done) return "accepted";
    return this.contact(user)?.changedIdentity ? "changed" : "none";
  }
}

/**
 * Bring an older store's schema to SCHEMA_VERSION, in one transaction. Version 0 (no
 * user_version) had no Trash: its messages get `trashed` NULL, i.e. none is in the Trash.
 * Versions 0 and 1 had indexes that did not leave the Trash out (dropped here, replaced in
 * open()), and deliveries that could not be 'waiting' at the relay (the table is rebuilt).
 * (`drafts` is created above for every store.)
 */
function migrate(db: Database): void {
  const version = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
  if (version >= SCHEMA_VERSION) return;
  db.transaction(() => {
    const cols = db.query<{ name: string }, []>("PRAGMA table_info(messages)").all().map((c) => c.name);
    if (!cols.includes("trashed")) db.exec("ALTER TABLE messages ADD COLUMN trashed INTEGER");
    // Version 2: these two left the Trash out only by reading every row, which made counting
    // 100,000 messages take hundreds of ms; their partial successors are created by open().
    db.exec("DROP INDEX IF EXISTS messages_by_date; DROP INDEX IF EXISTS messages_unread");
    // Version 2: deliveries may be 'waiting' at the relay, with the receipt they expect.
    // SQLite cannot change a CHECK in place: the table is rebuilt with its rows.
    const sql = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'").get()!.sql;
    if (!sql.includes("'waiting'")) {
      db.exec(`
        CREATE TABLE deliveries_v2 ${DELIVERIES_COLUMNS};
        INSERT INTO deliveries_v2 (rid, recipient, state, error, updated) SELECT rid, recipient, state, error, updated FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_v2 RENAME TO deliveries;
        CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state, recipient);
      `);
    }
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  })();
}

/**
 * U for unread mail; for sent mail S when every recipient has it, else H, F, Q, or W when every
 * recipient has it or it waits for them at the relay (SPEC.md §7.1, §12.5).
 */
function flagsOf(row: MessageRow, states: DeliveryState[]): string {
  if (row.folder === "in") return row.unread ? "U" : "";
  if (states.every((s) => s === "delivered")) return "S";
  if (states.includes("held")) return "H";
  if (states.includes("failed")) return "F";
  if (states.every((s) => s === "delivered" || s === "waiting")) return "W";
  return "Q";
}
