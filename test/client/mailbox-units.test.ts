// Small pure parts of the mailbox: sessions need cookie and token, lapse when idle and on
// lock; reply drafts;
// the in-memory search index over a real store.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Sessions } from "../../src/web/page-sessions.ts";
import { replyDraft } from "../../src/client/mailbox/compose.tsx";
import { SearchIndex } from "../../src/client/search.ts";
import { Store } from "../../src/client/store.ts";

describe("sessions", () => {
  test("a session lives while used, lapses after the idle time, and ends on lock", () => {
    let now = 1_000_000;
    const s = new Sessions(() => now);
    const a = s.create();
    const b = s.create();
    expect(a.id).not.toBe(b.id);
    expect(a.token).not.toBe(a.id);
    expect(s.check(a.id, a.token, 60_000)).toBe(true);
    now += 59_000;
    expect(s.check(a.id, a.token, 60_000)).toBe(true); // touched: the idle clock restarts
    now += 59_000;
    expect(s.check(a.id, a.token, 60_000, false)).toBe(true); // the page's own request: not touched
    now += 2_000;
    expect(s.check(a.id, a.token, 60_000)).toBe(false); // so it lapsed 60 s after the last use
    expect(s.check(b.id, b.token, 60_000)).toBe(false); // b was idle too
    expect(s.check(b.id, b.token, 60_000)).toBe(false); // and is forgotten
    const c = s.create();
    expect(s.check("forged", c.token, 60_000)).toBe(false);
    expect(s.check(undefined, c.token, 60_000)).toBe(false);
    s.endAll();
    expect(s.check(c.id, c.token, 60_000)).toBe(false);
    expect(s.size).toBe(0);
  });

  test("the cookie alone is not a session: it needs its own token (another port never sees it)", () => {
    const s = new Sessions(() => 1_000);
    const a = s.create();
    const b = s.create();
    expect(s.cookieAlive(a.id, 60_000)).toBe(true); // enough for a shell without data
    expect(s.check(a.id, undefined, 60_000)).toBe(false);
    expect(s.check(a.id, "", 60_000)).toBe(false);
    expect(s.check(a.id, b.token, 60_000)).toBe(false);
    expect(s.check(a.id, a.token, 60_000)).toBe(true);
    // A download link is signed for its path under the session's token.
    const path = "/messages/00/attachments/0";
    const sig = s.sign(a.id, path);
    expect(s.checkSigned(a.id, path, sig, 60_000)).toBe(true);
    expect(s.checkSigned(a.id, "/messages/00/attachments/1", sig, 60_000)).toBe(false);
    expect(s.checkSigned(b.id, path, sig, 60_000)).toBe(false);
    expect(s.checkSigned(a.id, path, undefined, 60_000)).toBe(false);
  });
});

describe("reply drafts", () => {
  const m = { from: "alice", subject: "Re: RE:  re: Plans", body: "one\ntwo\n", date: Date.UTC(2026, 0, 2, 3, 4) };

  test("top-posting: Re: once, empty top, the original quoted below", () => {
    expect(replyDraft(m, "top")).toEqual({
      to: "alice",
      subject: "Re: Plans",
      body: "\n\nOn 2026-01-02 03:04, alice wrote:\n> one\n> two\n",
      cursor: "start",
    });
  });

  test("bottom-posting: the quote first, the cursor at the end", () => {
    const d = replyDraft(m, "bottom");
    expect(d.body).toBe("On 2026-01-02 03:04, alice wrote:\n> one\n> two\n\n");
    expect(d.cursor).toBe("end");
    expect(d.subject).toBe("Re: Plans");
  });

  test("a subject without Re: gets one", () => {
    expect(replyDraft({ ...m, subject: "Prepare the report" }, "top").subject).toBe("Re: Prepare the report");
  });
});

describe("search index", () => {
  test("finds by subject, body, attachment name and sender in any script, newest first, and sees new mail", () => {
    const dir = mkdtempSync(join(tmpdir(), "smsg-search-"));
    try {
      const store = Store.open(join(dir, "client.db"), new Uint8Array(32).fill(3));
      const add = (id: string, from: string, date: number, subject: string, body: string) =>
        store.saveIncoming({ id, from, to: ["me"], date, received: date, subject, body, attachments: [] });
      add("a".repeat(32), "bob", 1, "Quarterly figures", "see the 表格");
      add("b".repeat(32), "carol", 2, "مرحبا", "Lunch on Friday?");
      const idx = new SearchIndex(store);
      const rids = (q: string) => store.byRids(idx.search(q).rids).map((m) => m.subject);
      expect(rids("figures")).toEqual(["Quarterly figures"]);
      expect(rids("表格")).toEqual(["Quarterly figures"]);
      expect(rids("مرحبا")).toEqual(["مرحبا"]);
      expect(rids("LUNCH friday")).toEqual(["مرحبا"]);
      expect(rids("carol")).toEqual(["مرحبا"]);
      expect(rids("lunch figures")).toEqual([]);
      add("c".repeat(32), "bob", 3, "More figures", "");
      expect(rids("figures")).toEqual(["More figures", "Quarterly figures"]);
      expect(idx.search("figures", "out").rids).toEqual([]);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("search warm-up", () => {
  test("builds the whole index in slices in the background, and stops when told", async () => {
    const dir = mkdtempSync(join(tmpdir(), "smsg-warm-"));
    try {
      const store = Store.open(join(dir, "client.db"), new Uint8Array(32).fill(4));
      for (let i = 0; i < 25; i++) {
        store.saveIncoming({ id: i.toString(16).padStart(32, "0"), from: "bob", to: ["me"], date: i, received: i, subject: `s${i}`, body: "", attachments: [] });
      }
      const idx = new SearchIndex(store);
      let clock = 0; // each reading 1 ms later: a 1 ms slice ends at its first reading, after 16 messages
      idx.warmUp(1, () => false, () => clock++);
      expect(idx.size).toBe(0); // nothing on the caller's turn
      await new Promise((r) => setTimeout(r, 0));
      expect(idx.size).toBe(16); // one slice: it stopped at the first reading past its time
      const deadline = Date.now() + 5000;
      while (idx.size < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 0));
      expect(idx.size).toBe(25);

      const other = new SearchIndex(store);
      let stop = false;
      other.warmUp(10, () => stop);
      stop = true;
      // Timers of equal delay fire in the order they were set: when ours fires, the warm-up's
      // first step has had its turn.
      await new Promise((r) => setTimeout(r, 0));
      expect(other.size).toBe(0);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
