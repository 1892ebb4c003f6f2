// The client's encrypted store (CLIENT.md §1) on real SQLite files: password check, message
// and delivery round trips, attachments through STREAM chunks, no plaintext on disk,
// crash leftovers, and the trust-on-first-use identity pins.

import { ProtocolError } from "../../src/protocol/errors.ts";
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { appendFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Store, WrongPasswordError } from "../../src/client/store.ts";
import { storeScratch } from "../support/store-scratch.ts";
import { attachmentsDir } from "../../src/client/attachment-files.ts";
import { waitFor } from "../support/harness.ts";
import { STREAM_CHUNK, streamCiphertextSize } from "../../src/protocol/stream.ts";

const KEY = new Uint8Array(32).fill(0x11);
const OTHER_KEY = new Uint8Array(32).fill(0x22);
const te = new TextEncoder();

const stores = storeScratch("smsg-store-", "store.db");

function openStore(key = KEY): Store {
  return stores.open(key);
}

let idCounter = 0;
function newId(): string {
  idCounter++;
  return idCounter.toString(16).padStart(32, "0");
}

function patterned(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function readAll(store: Store, rid: number, idx: number): Buffer {
  return Buffer.concat([...store.readAttachment(rid, idx)]);
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(Buffer.from(needle));
}

function outgoing(store: Store, over: Partial<Parameters<Store["saveOutgoing"]>[0]> = {}): { id: string; rid: number } {
  const id = over.id ?? newId();
  const rid = store.saveOutgoing({
    id,
    from: "alice",
    to: ["bob"],
    date: 1_000,
    subject: "s",
    body: "b",
    attachments: [],
    ...over,
  });
  return { id, rid };
}

describe("opening", () => {
  test("the right key reopens the store; another key is a wrong password", () => {
    const a = openStore();
    const { id } = outgoing(a, { subject: "kept" });
    a.close();
    expect(() => Store.open(stores.path, OTHER_KEY)).toThrow(WrongPasswordError);
    // The failed attempt changed nothing: the right key still opens it, message intact.
    const b = openStore();
    expect(b.find(id)?.subject).toBe("kept");
  });

  test("a fresh file accepts any key and is then bound to it", () => {
    openStore(OTHER_KEY).close();
    expect(() => Store.open(stores.path, KEY)).toThrow(WrongPasswordError);
    expect(openStore(OTHER_KEY).count("in")).toBe(0);
  });
});

describe("messages", () => {
  test("saveOutgoing, list('out') and find round trip unicode content", () => {
    const s = openStore();
    const subject = "会议 — اجتماع 📅";
    const body = "第一行\nالسطر الثاني\n👩‍👩‍👧‍👦 end";
    const id = newId();
    const rid = s.saveOutgoing({ id, from: "alice", to: ["bob", "carol"], date: 5_000, subject, body, attachments: [] });
    const list = s.list("out");
    expect(list.length).toBe(1);
    expect(list[0]).toEqual({ id, folder: "out", trashed: false, from: "alice", to: ["bob", "carol"], subject, date: 5_000, flags: "Q", attachments: [] });
    expect(s.list("in")).toEqual([]);
    const found = s.find(id);
    expect(found?.rid).toBe(rid);
    expect(found?.body).toBe(body);
    expect(found?.subject).toBe(subject);
    expect(s.find(newId())).toBeUndefined();
    expect(s.outgoing(rid)).toEqual({ id, from: "alice", to: ["bob", "carol"], date: 5_000, content: { subject, body, attachments: [] } });
  });

  test("list orders newest first and pages with limit/offset", () => {
    const s = openStore();
    const ids = [3_000, 1_000, 2_000].map((date) => outgoing(s, { date }).id);
    expect(s.list("out").map((m) => m.date)).toEqual([3_000, 2_000, 1_000]);
    expect(s.list("out", { limit: 1, offset: 1 }).map((m) => m.id)).toEqual([ids[2]!]);
    expect(s.count("out")).toBe(3);
  });

  test("deliveries start queued (Q); all delivered is S; held is H; failed is F", () => {
    const s = openStore();
    const { id, rid } = outgoing(s, { to: ["bob", "carol", "bob"] });
    expect(s.deliveries(rid)).toEqual([
      { recipient: "bob", state: "queued", error: null },
      { recipient: "carol", state: "queued", error: null },
    ]);
    expect(s.find(id)?.flags).toBe("Q");
    expect(s.queued().map((q) => q.recipient)).toEqual(["bob", "carol"]);
    expect(s.countQueued()).toBe(1);
    s.setDelivery(rid, "bob", "delivered", null, 2_000);
    expect(s.find(id)?.flags).toBe("Q");
    s.setDelivery(rid, "carol", "delivered", null, 2_000);
    expect(s.find(id)?.flags).toBe("S");
    expect(s.find(id)?.deliveries.map((d) => d.state)).toEqual(["delivered", "delivered"]);
    expect(s.queued()).toEqual([]);
    expect(s.countQueued()).toBe(0);

    const held = outgoing(s, { to: ["dave", "erin"] });
    s.setDelivery(held.rid, "dave", "held", "identity changed", 2_000);
    expect(s.find(held.id)?.flags).toBe("H");
    const failed = outgoing(s, { to: ["frank"] });
    s.setDelivery(failed.rid, "frank", "failed", "unknown-user", 2_000);
    expect(s.find(failed.id)?.flags).toBe("F");
    expect(s.find(failed.id)?.deliveries).toEqual([{ recipient: "frank", state: "failed", error: "unknown-user" }]);
  });

  test("a page of list, listWaiting and byRids gives each sent message the flags of its own deliveries", () => {
    // The flags of a page come from one query over all its messages: each must still get its own.
    const s = openStore();
    const q = outgoing(s, { to: ["bob", "carol"], date: 1_000 });
    const sent = outgoing(s, { to: ["bob"], date: 2_000 });
    const held = outgoing(s, { to: ["bob", "dave"], date: 3_000 });
    const failed = outgoing(s, { to: ["erin"], date: 4_000 });
    s.setDelivery(q.rid, "bob", "delivered", null, 5_000);
    s.setDelivery(sent.rid, "bob", "delivered", null, 5_000);
    s.setDelivery(held.rid, "dave", "held", "identity changed", 5_000);
    s.setDelivery(failed.rid, "erin", "failed", "unknown-user", 5_000);
    const flags = (list: { id: string; flags: string }[]) => list.map((m) => [m.id, m.flags]);
    expect(flags(s.list("out"))).toEqual([
      [failed.id, "F"],
      [held.id, "H"],
      [sent.id, "S"],
      [q.id, "Q"],
    ]);
    expect(flags(s.listWaiting())).toEqual([
      [held.id, "H"],
      [q.id, "Q"],
    ]);
    expect(flags(s.byRids([q.rid, 999, failed.rid, sent.rid]))).toEqual([
      [q.id, "Q"],
      [failed.id, "F"],
      [sent.id, "S"],
    ]);
  });

  test("releaseHeld puts only that recipient's held deliveries back in the queue", () => {
    const s = openStore();
    const m1 = outgoing(s, { to: ["dave"] });
    const m2 = outgoing(s, { to: ["dave", "erin"] });
    s.setDelivery(m1.rid, "dave", "held", "identity changed", 2_000);
    s.setDelivery(m2.rid, "dave", "held", "identity changed", 2_000);
    s.setDelivery(m2.rid, "erin", "held", "identity changed", 2_000);
    expect(s.queued()).toEqual([]);
    s.releaseHeld("dave", 3_000);
    expect(s.deliveries(m1.rid)).toEqual([{ recipient: "dave", state: "queued", error: null }]);
    expect(s.deliveries(m2.rid)).toEqual([
      { recipient: "dave", state: "queued", error: null },
      { recipient: "erin", state: "held", error: "identity changed" },
    ]);
    expect(s.find(m2.id)?.flags).toBe("H");
    expect(s.queued().map((q) => [q.id, q.recipient])).toEqual([
      [m1.id, "dave"],
      [m2.id, "dave"],
    ]);
  });

  test("saveIncoming stores a (from, id) once; the retry's attachments are discarded", () => {
    const s = openStore();
    const id = newId();
    const msg = { id, from: "bob", to: ["alice"], date: 1_000, received: 1_500, subject: "Привет", body: "текст" };
    const w1 = s.newAttachment("incoming", 1_000);
    w1.write(te.encode("first copy"));
    w1.finish();
    expect(s.hasIncoming("bob", id)).toBe(false);
    expect(s.saveIncoming({ ...msg, attachments: [{ att: w1.att, name: "a.txt", size: 10 }] })).toBe(true);
    const w2 = s.newAttachment("incoming", 1_100);
    w2.write(te.encode("second copy"));
    w2.finish();
    expect(s.saveIncoming({ ...msg, attachments: [{ att: w2.att, name: "a.txt", size: 11 }] })).toBe(false);
    expect(s.hasIncoming("bob", id)).toBe(true);
    expect(s.count("in")).toBe(1);
    const rows = s.db.query<{ att: string }, []>("SELECT att FROM attachments").all();
    expect(rows).toEqual([{ att: w1.att }]);
    const found = s.find(id)!;
    expect(new TextDecoder().decode(readAll(s, found.rid, 0))).toBe("first copy");
    // The same id from another sender would shadow this one: refused, nothing stored.
    let code = "";
    try {
      s.saveIncoming({ ...msg, from: "carol", attachments: [] });
    } catch (e) {
      code = e instanceof ProtocolError ? e.code : String(e);
    }
    expect(code).toBe("malformed");
    expect(s.idTakenByOther(id, "carol")).toBe(true);
    expect(s.idTakenByOther(id, "bob")).toBe(false);
    expect(s.count("in")).toBe(1);
  });

  test("an incoming message is unread (U) until markRead", () => {
    const s = openStore();
    const id = newId();
    s.saveIncoming({ id, from: "bob", to: ["alice"], date: 1_000, received: 1_000, subject: "x", body: "y", attachments: [] });
    const m = s.find(id)!;
    expect(m.flags).toBe("U");
    expect(m.folder).toBe("in");
    expect(m.deliveries).toEqual([]);
    expect(s.count("in", true)).toBe(1);
    s.markRead(m.rid);
    expect(s.find(id)?.flags).toBe("");
    expect(s.count("in", true)).toBe(0);
    expect(s.count("in")).toBe(1);
  });

  test("a message to oneself: find returns the inbox copy", () => {
    const s = openStore();
    const { id } = outgoing(s, { to: ["alice"], subject: "note" });
    s.saveIncoming({ id, from: "alice", to: ["alice"], date: 1_000, received: 1_001, subject: "note", body: "b", attachments: [] });
    expect(s.find(id)?.folder).toBe("in");
    expect(s.count("out")).toBe(1);
  });
});

describe("attachments", () => {
  const SIZES = [0, 1, STREAM_CHUNK, STREAM_CHUNK + 1, 3 * STREAM_CHUNK + 5];

  test("written in random-sized pieces, read back byte-identical after saveOutgoing", () => {
    const s = openStore();
    fc.assert(
      fc.property(fc.constantFrom(...SIZES), fc.array(fc.nat(), { maxLength: 8 }), (size, cuts) => {
        const data = patterned(size, size + cuts.length);
        const w = s.newAttachment("draft", 1_000);
        const points = [...new Set(cuts.map((c) => c % (size + 1)))].sort((a, b) => a - b);
        let prev = 0;
        for (const p of [...points, size]) {
          w.write(data.subarray(prev, p));
          prev = p;
        }
        expect(w.size).toBe(size);
        expect(w.finish()).toBe(size);
        expect(s.draftSize(w.att)).toBe(size);
        const { rid } = outgoing(s, { attachments: [{ att: w.att, name: "data.bin", size }] });
        expect(s.draftSize(w.att)).toBeUndefined(); // adopted: no longer a draft
        const back = readAll(s, rid, 0);
        expect(back.length).toBe(size);
        expect(back.equals(Buffer.from(data))).toBe(true);
        // The file is the STREAM: one tag per started chunk, an empty body still one.
        expect(statSync(join(s.files, w.att)).size).toBe(size + 16 * Math.max(1, Math.ceil(size / STREAM_CHUNK)));
      }),
      { numRuns: 25 },
    );
  });

  test("every listed size round trips at least once, in one piece and byte by byte at the edges", () => {
    const s = openStore();
    for (const size of SIZES) {
      const data = patterned(size, 7 * size + 1);
      const whole = s.newAttachment("draft", 1_000);
      whole.write(data);
      whole.finish();
      const pieces = s.newAttachment("draft", 1_000);
      // First 3 bytes one at a time, then the rest.
      for (let i = 0; i < Math.min(3, size); i++) pieces.write(data.subarray(i, i + 1));
      pieces.write(data.subarray(Math.min(3, size)));
      pieces.finish();
      const { rid } = outgoing(s, {
        attachments: [
          { att: whole.att, name: "whole", size },
          { att: pieces.att, name: "pieces", size },
        ],
      });
      expect(readAll(s, rid, 0).equals(Buffer.from(data))).toBe(true);
      expect(readAll(s, rid, 1).equals(Buffer.from(data))).toBe(true);
    }
  });

  test("a body of many chunks (40) round trips", () => {
    const s = openStore();
    const size = 40 * STREAM_CHUNK + 7;
    const data = patterned(size, 3);
    const w = s.newAttachment("draft", 1_000);
    for (let off = 0; off < size; off += 100_000) w.write(data.subarray(off, Math.min(off + 100_000, size)));
    w.finish();
    const { rid } = outgoing(s, { attachments: [{ att: w.att, name: "big", size }] });
    expect(readAll(s, rid, 0).equals(Buffer.from(data))).toBe(true);
  });

  test("saveOutgoing refuses an attachment that is not an uploaded draft, and saves nothing", () => {
    const s = openStore();
    const w = s.newAttachment("incoming", 1_000);
    w.finish();
    expect(() => outgoing(s, { attachments: [{ att: w.att, name: "x", size: 0 }] })).toThrow();
    expect(() => outgoing(s, { attachments: [{ att: "00".repeat(16), name: "x", size: 0 }] })).toThrow();
    expect(s.count("out")).toBe(0);
  });

  test("incoming attachments left by a killed process are deleted on reopen, files too; drafts stay", () => {
    const s = openStore();
    const incoming = s.newAttachment("incoming", 1_000);
    incoming.write(patterned(2 * STREAM_CHUNK + 3, 9));
    incoming.finish();
    const partial = s.newAttachment("incoming", 1_000);
    partial.write(patterned(STREAM_CHUNK + 1, 10)); // one chunk sealed, never finished
    const draft = s.newAttachment("draft", 1_000);
    draft.write(te.encode("draft"));
    draft.finish();
    expect(readdirSync(s.files).sort()).toEqual([incoming.att, partial.att, draft.att].sort());
    s.close();

    const again = openStore();
    const atts = again.db.query<{ att: string; state: string }, []>("SELECT att, state FROM attachments").all();
    expect(atts).toEqual([{ att: draft.att, state: "draft" }]);
    expect(readdirSync(again.files)).toEqual([draft.att]);
    expect(again.draftSize(draft.att)).toBe(5);
  });

  test.if(process.platform !== "win32")("the attachments folder is owner-only, and so is each file", () => {
    const s = openStore();
    const w = s.newAttachment("draft", 1_000);
    w.write(te.encode("private"));
    w.finish();
    expect(statSync(s.files).mode & 0o777).toBe(0o700);
    expect(statSync(join(s.files, w.att)).mode & 0o777).toBe(0o600);
  });

  test("a file no row names (a crash between the two) is removed on open; other names are left alone", () => {
    const s = openStore();
    const w = s.newAttachment("draft", 1_000);
    w.finish();
    s.close();
    const stray = "ab".repeat(16);
    writeFileSync(join(attachmentsDir(stores.path), stray), "left by a crash");
    writeFileSync(join(attachmentsDir(stores.path), "README"), "not ours");
    const again = openStore();
    expect(readdirSync(again.files).sort()).toEqual(["README", w.att].sort());
  });

  test("discarding an attachment being written closes and removes its file", () => {
    const s = openStore();
    const w = s.newAttachment("incoming", 1_000);
    w.write(patterned(2 * STREAM_CHUNK, 4));
    s.discardAttachment(w.att);
    expect(readdirSync(s.files)).toEqual([]);
    expect(s.db.query("SELECT 1 FROM attachments").all()).toEqual([]);
    expect(() => w.write(te.encode("more"))).toThrow("closed");
  });

  test("a damaged file is refused: cut, grown, missing, another attachment's, a flipped byte", () => {
    const s = openStore();
    const size = 3 * STREAM_CHUNK + 11;
    const save = (seed: number) => {
      const w = s.newAttachment("draft", 1_000);
      w.write(patterned(size, seed));
      w.finish();
      return { att: w.att, rid: outgoing(s, { attachments: [{ att: w.att, name: "f", size }] }).rid };
    };
    const a = save(1);
    const b = save(2);
    const fileA = join(s.files, a.att);
    const good = readFileSync(fileA);
    const first = (rid: number) => s.readAttachment(rid, 0).next();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof ProtocolError ? e.code : String(e);
      }
      return "no error";
    };

    truncateSync(fileA, good.length - 1);
    expect(code(() => first(a.rid))).toBe("truncated");
    writeFileSync(fileA, good);
    appendFileSync(fileA, "x");
    expect(code(() => first(a.rid))).toBe("truncated");
    rmSync(fileA);
    expect(code(() => first(a.rid))).toBe("truncated");
    // B's file in A's place has the right length but was sealed under B's key.
    writeFileSync(fileA, readFileSync(join(s.files, b.att)));
    expect(code(() => first(a.rid))).toBe("bad-tag");
    // A flipped byte in the last chunk: every chunk before it still opens, the last does not.
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1]! ^= 1;
    writeFileSync(fileA, flipped);
    expect(code(() => readAll(s, a.rid, 0))).toBe("bad-tag");
    writeFileSync(fileA, good);
    expect(readAll(s, a.rid, 0).equals(Buffer.from(patterned(size, 1)))).toBe(true);
    expect(readAll(s, b.rid, 0).equals(Buffer.from(patterned(size, 2)))).toBe(true);
  });

  test.if(process.platform === "linux")("a reader stopped early lets go of its file", () => {
    const s = openStore();
    const size = 4 * STREAM_CHUNK;
    const w = s.newAttachment("draft", 1_000);
    w.write(patterned(size, 5));
    w.finish();
    const { rid } = outgoing(s, { attachments: [{ att: w.att, name: "f", size }] });
    const fds = () => readdirSync("/proc/self/fd").length;
    const before = fds();
    const r = s.readAttachment(rid, 0);
    r.next();
    expect(fds()).toBe(before + 1);
    r.return(undefined);
    expect(fds()).toBe(before);
  });

  test("a store whose chunks were rows (before files) moves them into files on open", () => {
    const s = openStore();
    const sizes = [0, STREAM_CHUNK, 2 * STREAM_CHUNK + 9];
    const rids = sizes.map((size, i) => {
      const w = s.newAttachment("draft", 1_000);
      w.write(patterned(size, 20 + i));
      w.finish();
      return outgoing(s, { attachments: [{ att: w.att, name: "f", size }] }).rid;
    });
    // Rewrite it the way the earlier version kept it: one row per STREAM chunk, no files.
    s.db.exec(`CREATE TABLE chunks (
      att TEXT NOT NULL REFERENCES attachments (att) ON DELETE CASCADE,
      seq INTEGER NOT NULL, last INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (att, seq)) WITHOUT ROWID`);
    const atts = s.db.query<{ att: string; size: number }, []>("SELECT att, size FROM attachments ORDER BY rid").all();
    for (const { att, size } of atts) {
      const file = readFileSync(join(s.files, att));
      expect(file.length).toBe(streamCiphertextSize(size));
      const full = STREAM_CHUNK + 16;
      for (let seq = 0, off = 0; off < file.length || seq === 0; seq++, off += full) {
        const last = off + full >= file.length ? 1 : 0;
        s.db.query("INSERT INTO chunks (att, seq, last, data) VALUES (?, ?, ?, ?)").run(att, seq, last, file.subarray(off, off + full));
      }
      rmSync(join(s.files, att));
    }
    // A half-received attachment of that time is dropped with its rows, not moved.
    const half = s.newAttachment("incoming", 1_000);
    half.close();
    rmSync(join(s.files, half.att));
    s.db.query("INSERT INTO chunks (att, seq, last, data) VALUES (?, 0, 0, ?)").run(half.att, new Uint8Array(STREAM_CHUNK + 16));
    s.close();
    renameSync(attachmentsDir(stores.path), `${stores.path}-gone`); // an earlier store had no such folder

    const again = openStore();
    expect(again.db.query("SELECT 1 FROM sqlite_master WHERE name = 'chunks'").get()).toBeNull();
    expect(readdirSync(again.files).sort()).toEqual(atts.map((a) => a.att).sort());
    sizes.forEach((size, i) => expect(readAll(again, rids[i]!, 0).equals(Buffer.from(patterned(size, 20 + i)))).toBe(true));
  });

  test("pruneDrafts drops only drafts older than the cutoff", () => {
    const s = openStore();
    const old = s.newAttachment("draft", 1_000);
    old.finish();
    const fresh = s.newAttachment("draft", 5_000);
    fresh.finish();
    s.pruneDrafts(2_000);
    expect(s.draftSize(old.att)).toBeUndefined();
    expect(s.draftSize(fresh.att)).toBe(0);
  });
});

describe("at rest", () => {
  test("the database, its WAL and the attachment files hold none of the plaintext", () => {
    const s = openStore();
    const subject = "SUBJECT-MARKER 机密主题";
    const body = "BODY-MARKER نص سري";
    const name = "NAME-MARKER-секрет.txt";
    const attBytes = te.encode("ATTACHMENT-BYTES-MARKER ".repeat(100));
    const w = s.newAttachment("draft", 1_000);
    w.write(attBytes);
    w.finish();
    outgoing(s, { from: "alice", to: ["bob"], subject, body, attachments: [{ att: w.att, name, size: attBytes.length }] });
    const inAtt = s.newAttachment("incoming", 1_000);
    inAtt.write(attBytes);
    inAtt.finish();
    s.saveIncoming({
      id: newId(),
      from: "carolmetadata",
      to: ["alice"],
      date: 1_000,
      received: 1_000,
      subject,
      body,
      attachments: [{ att: inAtt.att, name, size: attBytes.length }],
    });

    const secrets = [subject, body, name, "ATTACHMENT-BYTES-MARKER"].map((x) => te.encode(x));
    const check = (files: string[]) => {
      const all = Buffer.concat(files.filter(existsSync).map((f) => readFileSync(f)));
      // Control: routing metadata is stored in the clear, so the search does find strings.
      expect(indexOf(all, te.encode("carolmetadata"))).toBeGreaterThanOrEqual(0);
      for (const secret of secrets) expect(indexOf(all, secret)).toBe(-1);
    };
    const files = [stores.path, `${stores.path}-wal`, `${stores.path}-shm`, ...readdirSync(s.files).map((f) => join(s.files, f))];
    expect(files.length).toBe(5); // two attachment files
    expect(existsSync(`${stores.path}-wal`)).toBe(true);
    check(files); // while open: most pages still in the WAL
    s.close();
    check(files); // after the checkpoint on close
  });
});

describe("contacts", () => {
  const A = new Uint8Array(32).fill(0xa);
  const B = new Uint8Array(32).fill(0xb);

  test("pinIdentity is first-write-wins", () => {
    const s = openStore();
    expect(s.contact("bob")).toBeUndefined();
    s.pinIdentity("bob", A, 1_000);
    s.pinIdentity("bob", B, 2_000);
    expect(s.contact("bob")).toEqual({ user: "bob", identity: A, firstSeen: 1_000, changedIdentity: null, changedAt: null, passwordChangedAt: null });
  });

  test("a noted change is pending until acceptIdentity adopts it, and only the key that was checked", () => {
    const s = openStore();
    const C = new Uint8Array(32).fill(0xc);
    s.pinIdentity("bob", A, 1_000);
    s.pinIdentity("carol", B, 1_000);
    expect(s.acceptIdentity("bob", B)).toBe("none");
    expect(s.acceptIdentity("nobody", B)).toBe("none");
    s.noteIdentityChange("bob", B, 3_000);
    expect(s.contact("bob")).toEqual({ user: "bob", identity: A, firstSeen: 1_000, changedIdentity: B, changedAt: 3_000, passwordChangedAt: null });
    // The relay swaps in C after the person read B's safety number: accepting B adopts nothing.
    s.noteIdentityChange("bob", C, 4_000);
    expect(s.acceptIdentity("bob", B)).toBe("changed");
    expect(s.contact("bob")).toEqual({ user: "bob", identity: A, firstSeen: 1_000, changedIdentity: C, changedAt: 4_000, passwordChangedAt: null });
    expect(s.acceptIdentity("bob", C)).toBe("accepted");
    expect(s.contact("bob")).toEqual({ user: "bob", identity: C, firstSeen: 1_000, changedIdentity: null, changedAt: null, passwordChangedAt: null });
    expect(s.acceptIdentity("bob", C)).toBe("none");
    expect(s.contacts().map((c) => c.user)).toEqual(["bob", "carol"]);
  });

  test("held deliveries to a changed identity flow back once accepted and released", () => {
    const s = openStore();
    s.pinIdentity("bob", A, 1_000);
    const { id, rid } = outgoing(s, { to: ["bob"] });
    s.noteIdentityChange("bob", B, 2_000);
    s.setDelivery(rid, "bob", "held", "identity changed", 2_000);
    expect(s.find(id)?.flags).toBe("H");
    expect(s.acceptIdentity("bob", B)).toBe("accepted");
    s.releaseHeld("bob", 3_000);
    expect(s.find(id)?.flags).toBe("Q");
    expect(s.queued()).toEqual([{ rid, id, recipient: "bob" }]);
    expect(s.contact("bob")?.identity).toEqual(B);
  });
});

describe("background syncs", () => {
  // A writer starts a sync every 16 MiB while the bytes come; the descriptor stays open
  // until that sync is done, whether the writer finished or was discarded meanwhile.
  const fds = () => readdirSync("/proc/self/fd").length;

  test.if(process.platform === "linux")("a large attachment round trips, and its file is let go after the syncs", async () => {
    const s = openStore();
    const before = fds();
    const size = 40 * 1024 * 1024 + 3;
    const data = patterned(size, 77);
    const w = s.newAttachment("draft", 1_000);
    for (let off = 0; off < size; off += 1_000_000) w.write(data.subarray(off, Math.min(size, off + 1_000_000)));
    w.finish();
    const { rid } = outgoing(s, { attachments: [{ att: w.att, name: "big", size }] });
    expect(readAll(s, rid, 0).equals(Buffer.from(data))).toBe(true);
    await waitFor("the writer's descriptor to close", () => fds() === before || undefined);
  });

  test.if(process.platform === "linux")("discarding a writer during a background sync closes it once the sync is done", async () => {
    const s = openStore();
    const before = fds();
    const w = s.newAttachment("incoming", 1_000);
    w.write(patterned(17 * 1024 * 1024, 78)); // past 16 MiB: a sync is under way
    s.discardAttachment(w.att);
    expect(readdirSync(s.files)).toEqual([]);
    await waitFor("the writer's descriptor to close", () => fds() === before || undefined);
  });
});
