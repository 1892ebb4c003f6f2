// The relay's user directory (SPEC.md §3.3) on a real SQLite file: users, states, and the
// bounded pending-login table that `ctrl users approve` draws from.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Directory, MAX_PENDING } from "../../src/server/directory.ts";

let dir: string;
let d: Directory;

const code = (b: number) => new Uint8Array(32).fill(b);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "smsg-dir-"));
  d = Directory.open(dir);
});
afterEach(() => {
  d.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("users", () => {
  test("add, get and list; a duplicate add is refused and changes nothing", () => {
    expect(existsSync(join(dir, "relay.db"))).toBe(true);
    expect(d.get("alice")).toBeUndefined();
    expect(d.add("bob", code(2), 200)).toBe(true);
    expect(d.add("alice", null, 100)).toBe(true);
    expect(d.add("alice", code(9), 300)).toBe(false);
    expect(d.get("alice")).toEqual({ user: "alice", code: null, state: "active", created: 100 });
    expect(d.list()).toEqual([
      { user: "alice", code: null, state: "active", created: 100 },
      { user: "bob", code: code(2), state: "active", created: 200 },
    ]);
  });

  test("persists across reopen of the same file", () => {
    d.add("alice", code(1), 100);
    d.close();
    d = Directory.open(dir);
    expect(d.get("alice")?.code).toEqual(code(1));
  });

  test("setState and setCode change only existing users", () => {
    d.add("alice", null, 100);
    expect(d.setState("alice", "disabled")).toBe(true);
    expect(d.get("alice")?.state).toBe("disabled");
    expect(d.setState("alice", "active")).toBe(true);
    expect(d.get("alice")?.state).toBe("active");
    expect(d.setState("nobody", "disabled")).toBe(false);
    expect(d.setCode("alice", code(5))).toBe(true);
    expect(d.get("alice")?.code).toEqual(code(5));
    expect(d.setCode("nobody", code(5))).toBe(false);
    expect(d.get("nobody")).toBeUndefined();
  });

  test("remove deletes the user and their pending login", () => {
    d.add("alice", null, 100);
    d.add("bob", null, 100);
    d.recordPending({ user: "alice", code: code(1), address: "192.0.2.1", time: 1 });
    d.recordPending({ user: "bob", code: code(2), address: "192.0.2.2", time: 2 });
    expect(d.remove("alice")).toBe(true);
    expect(d.get("alice")).toBeUndefined();
    expect(d.pending().map((p) => p.user)).toEqual(["bob"]);
    expect(d.remove("alice")).toBe(false);
  });
});

describe("pending logins", () => {
  test("recordPending keeps only the latest attempt per user", () => {
    d.recordPending({ user: "alice", code: code(1), address: "192.0.2.1", time: 10 });
    d.recordPending({ user: "bob", code: code(3), address: "192.0.2.3", time: 15 });
    d.recordPending({ user: "alice", code: code(2), address: "2001:db8::1", time: 20 });
    expect(d.pending()).toEqual([
      { user: "bob", code: code(3), address: "192.0.2.3", time: 15 },
      { user: "alice", code: code(2), address: "2001:db8::1", time: 20 },
    ]);
  });

  test(`is bounded by MAX_PENDING (${MAX_PENDING}); the oldest go first`, () => {
    const extra = 5;
    for (let i = 0; i < MAX_PENDING + extra; i++) {
      d.recordPending({ user: `u${i}`, code: code(i & 0xff), address: "192.0.2.1", time: 1_000 + i });
    }
    const rows = d.pending();
    expect(rows.length).toBe(MAX_PENDING);
    const users = new Set(rows.map((r) => r.user));
    for (let i = 0; i < extra; i++) expect(users.has(`u${i}`)).toBe(false);
    expect(users.has(`u${extra}`)).toBe(true);
    expect(users.has(`u${MAX_PENDING + extra - 1}`)).toBe(true);
    expect(rows[0]?.time).toBe(1_000 + extra);
  });

  test("approve adopts the pending code and clears the pending row", () => {
    d.add("alice", null, 100);
    d.recordPending({ user: "alice", code: code(7), address: "192.0.2.1", time: 50 });
    expect(d.approve("alice")).toEqual({ user: "alice", code: code(7), address: "192.0.2.1", time: 50 });
    expect(d.get("alice")?.code).toEqual(code(7));
    expect(d.pending()).toEqual([]);
    expect(d.approve("alice")).toBeUndefined();
    expect(d.get("alice")?.code).toEqual(code(7));
  });

  test("approve of an unregistered user adopts nothing and keeps the pending row", () => {
    d.recordPending({ user: "ghost", code: code(7), address: "192.0.2.1", time: 50 });
    expect(d.approve("ghost")).toBeUndefined();
    expect(d.get("ghost")).toBeUndefined();
    expect(d.pending().map((p) => p.user)).toEqual(["ghost"]);
    expect(d.approve("nobody")).toBeUndefined();
  });
});
