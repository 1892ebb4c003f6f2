// The client store's parts for mail that waits at the relay (SPEC.md §12, CLIENT.md §2.1):
// the `waiting` delivery state and its receipt, the W flag, the migration of a version-1
// store, and prekey secrets wrapped under the store key, retired, purged and deleted.

import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { SCHEMA_VERSION, Store } from "../../src/client/store.ts";
import { storeScratch } from "../support/store-scratch.ts";

const KEY = new Uint8Array(32).fill(0x11);
const stores = storeScratch("smsg-store-offline-", "store.db");
let n = 0;

function openStore(): Store {
  return stores.open(KEY);
}

function outgoing(s: Store, to: string[]): { id: string; rid: number } {
  const id = (++n).toString(16).padStart(32, "0");
  return { id, rid: s.saveOutgoing({ id, from: "alice", to, date: 1_000 + n, subject: "s", body: "b", attachments: [] }) };
}

describe("waiting deliveries", () => {
  test("W once every recipient has it or it waits at the relay; Q while a copy is only here; the receipt is kept", () => {
    const s = openStore();
    const { id, rid } = outgoing(s, ["bob", "carol"]);
    const receipt = new Uint8Array(32).fill(5);
    s.setWaiting(rid, "bob", receipt, 2_000);
    expect(s.find(id)?.flags).toBe("Q");
    expect(s.queued().map((q) => q.recipient)).toEqual(["carol"]);
    s.setDelivery(rid, "carol", "delivered", null, 2_000);
    expect(s.find(id)?.flags).toBe("W");
    expect(s.queued()).toEqual([]);
    expect(s.waitingDelivery(id, "bob")).toEqual({ rid, receipt });
    expect(s.waitingDelivery(id, "carol")).toBeUndefined();
    s.setDelivery(rid, "bob", "delivered", null, 3_000);
    expect(s.find(id)?.flags).toBe("S");
    expect(s.waitingDelivery(id, "bob")).toBeUndefined();
    const expired = outgoing(s, ["dave"]);
    s.setWaiting(expired.rid, "dave", receipt, 2_000);
    s.setDelivery(expired.rid, "dave", "failed", "expired at the relay", 4_000);
    expect(s.find(expired.id)?.flags).toBe("F");
  });

  test("a version-1 store (no 'waiting' in the CHECK, no receipt column) is migrated at open and keeps its deliveries", () => {
    const s = openStore();
    const { id, rid } = outgoing(s, ["bob"]);
    s.close();
    const raw = new Database(stores.path);
    raw.exec(`
      PRAGMA foreign_keys = OFF;
      CREATE TABLE d1 (rid INTEGER NOT NULL REFERENCES messages (rid) ON DELETE CASCADE, recipient TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'held', 'failed')), error TEXT, updated INTEGER NOT NULL,
        PRIMARY KEY (rid, recipient));
      INSERT INTO d1 SELECT rid, recipient, state, error, updated FROM deliveries;
      DROP TABLE deliveries; ALTER TABLE d1 RENAME TO deliveries;
      PRAGMA user_version = 1;`);
    expect(() => raw.query("UPDATE deliveries SET state = 'waiting'").run()).toThrow();
    raw.close();
    const t = openStore();
    expect(t.db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(SCHEMA_VERSION);
    expect(t.deliveries(rid)).toEqual([{ recipient: "bob", state: "queued", error: null }]);
    t.setWaiting(rid, "bob", new Uint8Array(32).fill(1), 5_000);
    expect(t.find(id)?.flags).toBe("W");
  });
});

describe("prekeys", () => {
  const key = (kind: "signed" | "one-time", b: number, issued = 1_000) => ({
    kind,
    pub: new Uint8Array(32).fill(b),
    kemPub: new Uint8Array(1184).fill(b),
    issued,
    sig: new Uint8Array(64).fill(b),
    secret: new Uint8Array(32).fill(0xa0 + b),
    kemSeed: new Uint8Array(64).fill(0xc0 + b),
  });

  test("secrets round trip wrapped under the store key, never in the clear on disk", () => {
    const s = openStore();
    s.addPrekeys([key("signed", 1), key("one-time", 2), key("one-time", 3)]);
    expect(s.currentPrekeys().map((k) => [k.kind, k.pub[0]])).toEqual([["signed", 1], ["one-time", 2], ["one-time", 3]]);
    const got = s.prekeySecret(new Uint8Array(32).fill(2))!;
    expect(got.kind).toBe("one-time");
    expect(got.secret).toEqual(new Uint8Array(32).fill(0xa2));
    expect(got.kemSeed).toEqual(new Uint8Array(64).fill(0xc2));
    expect(s.prekeySecret(new Uint8Array(32).fill(9))).toBeUndefined();
    s.db.query("PRAGMA wal_checkpoint(TRUNCATE)").get();
    const file = readFileSync(stores.path);
    for (const b of [0xa1, 0xa2, 0xc2]) expect(file.includes(Buffer.alloc(32, b))).toBe(false);
  });

  test("a used one-time secret is deleted, a signed one is not; retired secrets go once the retention has passed", () => {
    const s = openStore();
    s.addPrekeys([key("signed", 1), key("one-time", 2)]);
    s.deletePrekey(new Uint8Array(32).fill(2));
    s.deletePrekey(new Uint8Array(32).fill(1)); // not a one-time key: kept
    expect(s.prekeySecret(new Uint8Array(32).fill(2))).toBeUndefined();
    expect(s.prekeySecret(new Uint8Array(32).fill(1))).toBeDefined();
    s.retirePrekeys("signed", 10_000);
    s.addPrekeys([key("signed", 4, 10_000)]);
    expect(s.currentPrekeys().map((k) => k.pub[0])).toEqual([4]);
    expect(s.purgePrekeys(10_000)).toBe(0); // retired at 10 000: mail sealed before may still wait
    expect(s.prekeySecret(new Uint8Array(32).fill(1))).toBeDefined();
    expect(s.purgePrekeys(10_001)).toBe(1);
    expect(s.prekeySecret(new Uint8Array(32).fill(1))).toBeUndefined();
    expect(s.prekeySecret(new Uint8Array(32).fill(4))).toBeDefined();
  });
});
