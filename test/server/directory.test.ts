// The relay's user directory (SPEC.md §3.3) on a real SQLite file: users, states, and the
// bounded pending-login table that `ctrl users approve` draws from.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { ApprovalError, Directory, MAX_PENDING, type ApprovalErrorCode } from "../../src/server/directory.ts";
import { encodeRegistrationCode } from "../../src/protocol/keys.ts";

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

describe("the directory owns relay.db", () => {
  test("its whole schema exists as soon as it is opened, and its database is not reachable from outside", () => {
    const raw = new Database(join(dir, "relay.db"), { readonly: true });
    const tables = raw.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    raw.close();
    expect(tables.map((t) => t.name)).toEqual(["admin_logins", "identity_changes", "invites", "pending", "users"]);
    expect((d as unknown as Record<string, unknown>).db).toBeUndefined();
  });

  test("changeCode adopts the new code only from the current one, appends the statement (16 kept), drops pending; remove forgets the chain", () => {
    d.add("alice", code(1), 0);
    d.recordPending({ user: "alice", code: code(9), address: "127.0.0.1", time: 1 });
    const st = (b: number) => new Uint8Array(136).fill(b);
    expect(d.changeCode("alice", code(2), code(3), st(1))).toBe(false); // not the current code
    expect(d.get("alice")!.code).toEqual(code(1));
    expect(d.identityChanges("alice")).toEqual([]);
    expect(d.changeCode("alice", code(1), code(2), st(1))).toBe(true);
    expect(d.get("alice")!.code).toEqual(code(2));
    expect(d.pending()).toEqual([]);
    for (let i = 2; i <= 20; i++) expect(d.changeCode("alice", code(i), code(i + 1), st(i))).toBe(true);
    expect(d.identityChanges("alice").map((c) => c[0])).toEqual(Array.from({ length: 16 }, (_, i) => i + 5));
    d.setState("alice", "disabled");
    expect(d.changeCode("alice", code(21), code(22), st(21))).toBe(false);
    d.remove("alice");
    expect(d.identityChanges("alice")).toEqual([]);
  });

  test("invites by hash: one per user, expired ones not listed, spent once, only for their own active user", () => {
    const h = (b: number) => new Uint8Array(32).fill(b);
    d.add("alice", null, 0);
    d.add("bob", code(2), 0);
    d.putInvite(h(1), "alice", 100, 200);
    d.putInvite(h(2), "alice", 110, 300); // replaces alice's first
    d.putInvite(h(3), "bob", 120, 150);
    expect(d.invites(140)).toEqual([
      { user: "alice", created: 110, expires: 300 },
      { user: "bob", created: 120, expires: 150 },
    ]);
    expect(d.invites(150)).toEqual([{ user: "alice", created: 110, expires: 300 }]);
    expect(d.redeemInvite(h(1), "alice", code(9), 150)).toBe(false); // replaced
    expect(d.redeemInvite(h(2), "bob", code(9), 150)).toBe(false); // alice's, not bob's
    expect(d.redeemInvite(h(3), "bob", code(9), 150)).toBe(false); // expired
    d.recordPending({ user: "alice", code: code(5), address: "192.0.2.1", time: 140 });
    expect(d.redeemInvite(h(2), "alice", code(9), 150)).toBe(true);
    expect(d.get("alice")?.code).toEqual(code(9));
    expect(d.pending()).toEqual([]);
    expect(d.redeemInvite(h(2), "alice", code(8), 150)).toBe(false); // spent
    d.setState("bob", "disabled");
    d.putInvite(h(4), "bob", 200, 400);
    expect(d.redeemInvite(h(4), "bob", code(9), 210)).toBe(false); // disabled
    expect(d.get("bob")?.code).toEqual(code(2));
  });

  test("admin login links by hash: taken once, not after they expire", () => {
    d.putAdminLogin(code(1), 100, 200);
    d.putAdminLogin(code(2), 100, 200);
    expect(d.takeAdminLogin(code(1), 150)).toBe(true);
    expect(d.takeAdminLogin(code(1), 150)).toBe(false);
    expect(d.takeAdminLogin(code(3), 150)).toBe(false);
    expect(d.takeAdminLogin(code(2), 200)).toBe(false);
  });
});

describe("the approval rule (ctrl users approve and the admin page)", () => {
  const refused = (f: () => unknown): ApprovalErrorCode | undefined => {
    try {
      f();
    } catch (e) {
      if (e instanceof ApprovalError) return e.code;
      throw e;
    }
    return undefined;
  };

  test("refuses a bad id, an unknown user and a user with no pending login, changing nothing", () => {
    d.add("alice", null, 0);
    d.recordPending({ user: "ghost", code: code(7), address: "192.0.2.1", time: 1 });
    expect(refused(() => d.approvePending("Not An Id", undefined))).toBe("bad-user-id");
    expect(refused(() => d.approvePending("ghost", undefined))).toBe("no-user");
    expect(refused(() => d.approvePending("alice", undefined))).toBe("no-pending");
    expect(d.get("alice")?.code).toBeNull();
    expect(d.pending().map((p) => p.user)).toEqual(["ghost"]);
  });

  test("a first registration is adopted without a code to compare, or with the matching one only", () => {
    d.add("alice", null, 0);
    d.recordPending({ user: "alice", code: code(7), address: "192.0.2.1", time: 1 });
    expect(refused(() => d.approvePending("alice", code(8)))).toBe("wrong-code");
    expect(d.get("alice")?.code).toBeNull();
    expect(d.approvePending("alice", undefined)).toEqual({ user: "alice", code: code(7), address: "192.0.2.1", time: 1 });
    expect(d.get("alice")?.code).toEqual(code(7));
  });

  test("replacing a code needs the new code, and says which code is pending", () => {
    d.add("alice", code(1), 0);
    d.recordPending({ user: "alice", code: code(7), address: "192.0.2.1", time: 1 });
    let message = "";
    try {
      d.approvePending("alice", undefined);
    } catch (e) {
      message = (e as ApprovalError).message;
      expect((e as ApprovalError).code).toBe("code-needed");
    }
    expect(message).toContain(encodeRegistrationCode(code(7)));
    expect(d.get("alice")?.code).toEqual(code(1));
    expect(d.approvePending("alice", code(7)).code).toEqual(code(7));
    expect(d.get("alice")?.code).toEqual(code(7));
  });
});
