// The store's Trash, drafts, unread marks and attachment copies (CLIENT.md §1.2, §1.5) on
// real SQLite files: what Delete, Restore and Empty Trash do to the rows and files, what
// stays on disk after emptying (secure_delete, the WAL truncated), the migration of a store
// made before the Trash existed, and drafts sealed like messages.

import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_VERSION, Store } from "../../src/client/store.ts";
import { storeScratch } from "../support/store-scratch.ts";
import { attachmentsDir } from "../../src/client/attachment-files.ts";

const KEY = new Uint8Array(32).fill(0x11);
/** A store before version 2: its two message indexes in place of the ones that leave the Trash out. */
const OLD_INDEXES =
  "DROP INDEX messages_listed; DROP INDEX messages_unread_listed; " +
  "CREATE INDEX messages_by_date ON messages (folder, date DESC, rid DESC); CREATE INDEX messages_unread ON messages (folder) WHERE unread = 1";
const te = new TextEncoder();

const stores = storeScratch("smsg-trash-", "client.db");
let n = 0;
const newId = () => (++n).toString(16).padStart(32, "0");

function openStore(): Store {
  return stores.open(KEY);
}

function upload(s: Store, bytes: Uint8Array, now = 1_000): { att: string; size: number } {
  const w = s.newAttachment("draft", now);
  w.write(bytes);
  return { att: w.att, size: w.finish() };
}

function incoming(s: Store, over: { subject?: string; body?: string; files?: Uint8Array[] } = {}): { id: string; rid: number } {
  const id = newId();
  const atts = (over.files ?? []).map((bytes, i) => {
    const w = s.newAttachment("incoming", 1_000);
    w.write(bytes);
    return { att: w.att, name: `f${i}.bin`, size: w.finish() };
  });
  s.saveIncoming({ id, from: "bob", to: ["alice"], date: 2_000 + n, received: 2_000, subject: over.subject ?? "s", body: over.body ?? "b", attachments: atts });
  return { id, rid: s.find(id)!.rid };
}

function contains(file: string, needle: Uint8Array): boolean {
  return existsSync(file) && readFileSync(file).indexOf(Buffer.from(needle)) >= 0;
}

describe("the Trash", () => {
  test("delete moves a message out of its folder into the Trash; restore puts it back", () => {
    const s = openStore();
    const a = incoming(s, { subject: "to delete" });
    const b = incoming(s, { subject: "to keep" });
    const sent = s.saveOutgoing({ id: newId(), from: "alice", to: ["bob"], date: 3_000, subject: "sent one", body: "x", attachments: [] });
    expect(s.count("in", true)).toBe(2);
    expect(s.trash(a.rid, 10_000)).toBe(true);
    expect(s.trash(a.rid, 10_001)).toBe(false); // already there
    expect(s.trash(sent, 10_002)).toBe(true);
    expect(s.list("in").map((m) => m.subject)).toEqual(["to keep"]);
    expect(s.list("out")).toEqual([]);
    // Most recently deleted first, received and sent alike; an unread one no longer counts.
    expect(s.listTrash().map((m) => [m.subject, m.folder, m.trashed])).toEqual([
      ["sent one", "out", true],
      ["to delete", "in", true],
    ]);
    expect(s.count("in", true)).toBe(1);
    expect(s.find(a.id)?.trashed).toBe(true);
    expect(s.restore(a.rid)).toBe(true);
    expect(s.restore(a.rid)).toBe(false);
    expect(s.list("in").map((m) => m.subject).sort()).toEqual(["to delete", "to keep"]);
    expect(s.find(b.id)?.trashed).toBe(false);
    expect(s.listTrash().map((m) => m.subject)).toEqual(["sent one"]);
  });

  test("emptying removes the rows, unlinks the attachment files, and leaves the keys nowhere in the database or its WAL", () => {
    const s = openStore();
    const secret = te.encode("the attachment's plaintext, which never touches the disk");
    const gone = incoming(s, { subject: "gone for good", files: [secret, new Uint8Array(100_000).fill(7)] });
    const kept = incoming(s, { subject: "kept", files: [te.encode("still here")] });
    const sent = s.saveOutgoing({ id: newId(), from: "alice", to: ["bob"], date: 3_000, subject: "sent and trashed", body: "x", attachments: [upload(s, te.encode("upload")) ].map((a) => ({ ...a, name: "u.txt" })) });
    // What must not survive: the wrapped keys and boxes of the deleted rows.
    const secrets = [
      ...s.db.query<{ wrapped_key: Uint8Array; header: Uint8Array }, [number, number]>("SELECT wrapped_key, header FROM messages WHERE rid IN (?, ?)").all(gone.rid, sent).flatMap((r) => [r.wrapped_key, r.header]),
      ...s.db.query<{ wrapped_key: Uint8Array }, [number, number]>("SELECT wrapped_key FROM attachments WHERE rid IN (?, ?)").all(gone.rid, sent).map((r) => r.wrapped_key),
    ];
    expect(secrets).toHaveLength(2 * 2 + 3);
    const goneFiles = s.db.query<{ att: string }, [number, number]>("SELECT att FROM attachments WHERE rid IN (?, ?)").all(gone.rid, sent).map((r) => r.att);
    const keptFiles = s.db.query<{ att: string }, [number]>("SELECT att FROM attachments WHERE rid = ?").all(kept.rid).map((r) => r.att);
    s.trash(gone.rid, 5_000);
    s.trash(sent, 5_001);
    // Deleting alone destroys nothing: the Trash can still give it back.
    for (const f of goneFiles) expect(existsSync(join(attachmentsDir(stores.path), f))).toBe(true);

    expect(s.emptyTrash().sort()).toEqual([gone.rid, sent].sort());
    expect(s.listTrash()).toEqual([]);
    expect(s.find(gone.id)).toBeUndefined();
    expect(s.db.query("SELECT count(*) AS n FROM deliveries WHERE rid = ?").get(sent)).toEqual({ n: 0 });
    expect(s.db.query("SELECT count(*) AS n FROM attachments WHERE rid IN (?, ?)").get(gone.rid, sent)).toEqual({ n: 0 });
    expect(readdirSync(attachmentsDir(stores.path)).sort()).toEqual(keptFiles.sort());
    expect(Buffer.concat([...s.readAttachment(kept.rid, 0)]).toString()).toBe("still here");
    // secure_delete zeroed the freed pages and the checkpoint truncated the WAL, which held
    // the pages as they were: no byte string of a deleted key or box is left in either file.
    for (const file of [stores.path, `${stores.path}-wal`]) for (const x of secrets) expect([file, contains(file, x)]).toEqual([file, false]);
    s.close();
    for (const x of secrets) expect(contains(stores.path, x)).toBe(false);
    expect(openStore().list("in").map((m) => m.subject)).toEqual(["kept"]);
  });

  test("a store made before the Trash existed (schema version 0) is migrated at open and keeps its mail", () => {
    const s = openStore();
    const m = incoming(s, { subject: "from before" });
    s.close();
    // The old schema, exactly: no `trashed` column, no `drafts` table, its two indexes, user_version 0.
    const raw = new Database(stores.path);
    raw.exec(`${OLD_INDEXES}; ALTER TABLE messages DROP COLUMN trashed; DROP TABLE drafts; PRAGMA user_version = 0`);
    expect(raw.query("PRAGMA table_info(messages)").all().map((c) => (c as { name: string }).name)).not.toContain("trashed");
    raw.close();

    const t = openStore();
    expect(t.db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(SCHEMA_VERSION);
    expect(t.list("in").map((x) => [x.subject, x.trashed])).toEqual([["from before", false]]);
    expect(t.trash(m.rid, 9_000)).toBe(true);
    expect(t.listTrash().map((x) => x.subject)).toEqual(["from before"]);
    t.saveDraft(newId(), { to: "", subject: "draft after migration", body: "", attachments: [] }, 9_001);
    expect(t.drafts().map((d) => d.subject)).toEqual(["draft after migration"]);
  });

  test("a store of version 1 gets indexes that leave the Trash out: a folder's page and its counts never read the table", () => {
    const s = openStore();
    const kept = incoming(s, { subject: "kept" });
    const binned = incoming(s, { subject: "binned" });
    expect(s.trash(binned.rid, 9_000)).toBe(true);
    s.close();
    const raw = new Database(stores.path);
    raw.exec(`${OLD_INDEXES}; PRAGMA user_version = 1`);
    raw.close();

    const t = openStore();
    expect(t.db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(SCHEMA_VERSION);
    const indexes = t.db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' AND sql IS NOT NULL").all();
    expect(indexes.map((i) => i.name).sort()).toEqual(["messages_by_id", "messages_listed", "messages_unread_listed"]);
    // The queries of list() and count(), planned on the migrated store: the index alone.
    const plan = (sql: string) => t.db.query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${sql}`).all().map((r) => r.detail).join("; ");
    expect(plan("SELECT count(*) FROM messages WHERE folder = 'in' AND trashed IS NULL AND unread = 1")).toContain("COVERING INDEX messages_unread_listed");
    expect(plan("SELECT count(*) FROM messages WHERE folder = 'in' AND trashed IS NULL")).toContain("COVERING INDEX messages_listed");
    expect(plan("SELECT rid, header FROM messages WHERE folder = 'in' AND trashed IS NULL ORDER BY date DESC, rid DESC LIMIT 50")).not.toContain("TEMP B-TREE");
    expect([t.count("in"), t.count("in", true)]).toEqual([1, 1]);
    expect(t.list("in").map((m) => m.id)).toEqual([kept.id]);
    expect(t.restore(binned.rid)).toBe(true);
    expect([t.count("in"), t.count("in", true)]).toEqual([2, 2]);
  });

  test("mark as unread: received mail only", () => {
    const s = openStore();
    const m = incoming(s);
    s.markRead(m.rid);
    expect(s.count("in", true)).toBe(0);
    expect(s.markUnread(m.rid)).toBe(true);
    expect(s.find(m.id)?.flags).toBe("U");
    const sent = s.saveOutgoing({ id: newId(), from: "alice", to: ["bob"], date: 3_000, subject: "s", body: "b", attachments: [] });
    expect(s.markUnread(sent)).toBe(false);
  });
});

describe("drafts", () => {
  test("a draft is sealed like a message, read back, overwritten in place, and deleted with its uploads", () => {
    const s = openStore();
    const id = newId();
    const up = upload(s, te.encode("draft upload bytes"));
    const subject = "половина письма — نصف رسالة";
    s.saveDraft(id, { to: "", subject, body: "typed so far", attachments: [{ ...up, name: "n.txt" }] }, 1_000);
    expect(s.draft(id)).toEqual({ id, updated: 1_000, to: "", subject, body: "typed so far", attachments: [{ ...up, name: "n.txt" }] });
    s.saveDraft(id, { to: "bob", subject, body: "typed so far, and more", attachments: [{ ...up, name: "n.txt" }] }, 2_000);
    expect(s.drafts().map((d) => [d.id, d.to, d.body, d.updated])).toEqual([[id, "bob", "typed so far, and more", 2_000]]);
    expect(Buffer.concat([...s.readDraftAttachment(up.att)]).toString()).toBe("draft upload bytes");
    s.db.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
    for (const file of [stores.path, `${stores.path}-wal`]) {
      expect(contains(file, te.encode("typed so far"))).toBe(false);
      expect(contains(file, te.encode(subject))).toBe(false);
    }
    // An old upload a saved draft holds survives the daily prune; an orphan does not.
    const orphan = upload(s, te.encode("orphan"));
    s.pruneDrafts(10_000);
    expect(s.draftSize(up.att)).toBe(up.size);
    expect(s.draftSize(orphan.att)).toBeUndefined();

    expect(s.deleteDraft(id)).toBe(true);
    expect(s.deleteDraft(id)).toBe(false);
    expect(s.draft(id)).toBeUndefined();
    expect(s.draftSize(up.att)).toBeUndefined();
    expect(existsSync(join(attachmentsDir(stores.path), up.att))).toBe(false);
  });

  test("sending keeps the uploads it took: deleteDraft(id, keep) leaves those to the message, removes the rest", () => {
    const s = openStore();
    const id = newId();
    const up = upload(s, te.encode("goes with the message"));
    const dropped = upload(s, te.encode("left out of the message"));
    s.saveDraft(id, { to: "bob", subject: "s", body: "b", attachments: [{ ...up, name: "a.txt" }, { ...dropped, name: "b.txt" }] }, 1_000);
    const rid = s.saveOutgoing({ id: newId(), from: "alice", to: ["bob"], date: 2_000, subject: "s", body: "b", attachments: [{ ...up, name: "a.txt" }] });
    expect(s.deleteDraft(id, [up.att])).toBe(true);
    expect(Buffer.concat([...s.readAttachment(rid, 0)]).toString()).toBe("goes with the message");
    expect(s.draftSize(dropped.att)).toBeUndefined();
    expect(existsSync(join(attachmentsDir(stores.path), dropped.att))).toBe(false);
  });
});

describe("copying an attachment (Forward)", () => {
  test("a stored attachment becomes a new upload with the same bytes under another key", () => {
    const s = openStore();
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
    const m = incoming(s, { files: [bytes] });
    const copy = s.copyAttachment(m.rid, 0, 5_000);
    const original = s.db.query<{ att: string }, [number]>("SELECT att FROM attachments WHERE rid = ?").get(m.rid)!.att;
    expect(copy.att).not.toBe(original);
    expect(copy.size).toBe(bytes.length);
    expect(s.draftSize(copy.att)).toBe(bytes.length);
    expect(Buffer.compare(Buffer.concat([...s.readDraftAttachment(copy.att)]), Buffer.from(bytes))).toBe(0);
    // Two files, two keys: the ciphertexts differ.
    const dirA = attachmentsDir(stores.path);
    expect(Buffer.compare(readFileSync(join(dirA, original)), readFileSync(join(dirA, copy.att)))).not.toBe(0);
  });
});

describe("a password change and drafts", () => {
  const keys = (b: number) => ({
    login: { secretKey: new Uint8Array(32).fill(b), publicKey: new Uint8Array(32).fill(b + 1) },
    identity: { seed: new Uint8Array(32).fill(b + 2), publicKey: new Uint8Array(32).fill(b + 3) },
    storeKey: b === 0x10 ? KEY : new Uint8Array(32).fill(b + 4),
  });

  test("a saved draft is re-wrapped with the messages: it opens under the new password's store key", () => {
    const s = openStore();
    const id = newId();
    s.saveDraft(id, { to: "bob", subject: "half written", body: "to be continued", attachments: [] }, 1_700_000_000_000);
    const old = keys(0x10);
    const next = keys(0x40);
    s.prepareChange(old, next, new Uint8Array(136));
    s.commitChange();
    s.close();
    const reopened = Store.open(stores.path, next.storeKey);
    stores.keep(reopened);
    expect(reopened.draft(id)).toMatchObject({ to: "bob", subject: "half written", body: "to be continued" });
  });
});
