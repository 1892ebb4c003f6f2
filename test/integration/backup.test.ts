// Backing up a running client as the README says (database first, then the attachments
// folder): the copy opens with the same password, without any relay, and shows the same
// mail with byte-identical attachments. A file that arrives after the database copy is
// removed as stray when the copy opens.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  Scratch,
  inbox,
  ok,
  outboxFlag,
  passwordFile,
  register,
  sendFrom,
  startClient,
  startRelay,
  waitConnected,
  type RelayHandle,
} from "../support/harness.ts";

const s = new Scratch();
let relay: RelayHandle;
const pw: Record<string, string> = {};

async function start(user: string, dataDir = s.path(user), server = `127.0.0.1:${relay.port}`) {
  return s.track(await startClient({ user, server, dataDir, passwordFile: pw[user]!, relayKey: relay.key }));
}

/** Send with an attachment and wait until it is delivered. */
async function send(subject: string, file: string): Promise<string> {
  const id = await sendFrom(s.path("alice"), "bob", subject, ["--attach", file]);
  await outboxFlag(s.path("alice"), id, "S");
  return id;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  relay = s.track(await startRelay({ dataDir: s.path("relay") }));
  for (const u of ["alice", "bob"]) {
    pw[u] = passwordFile(s.path("pw"), u, `${u} pw ${randomBytes(4).toString("hex")}`);
    await register(relay.dataDir, u, pw[u]!);
    await start(u);
    await waitConnected(s.path(u));
  }
}, 120_000);
afterAll(() => s.cleanup());

describe("backing up a running client", () => {
  test("database first, then the attachments: the copy reads the same mail with no relay", async () => {
    const bob = s.path("bob");
    const first = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(s.path("first.bin"), first);
    const kept = await send("before the backup", s.path("first.bin"));

    // The database, copied while bob's client runs (what `sqlite3 client.db ".backup ..."` does).
    const backup = s.path("backup");
    mkdirSync(backup, { mode: 0o700 });
    const db = new Database(join(bob, "client.db"), { readonly: true });
    db.exec(`VACUUM INTO '${join(backup, "client.db")}'`);
    db.close();
    // Mail that arrives between the two copies: its file is in the folder, not in the database.
    writeFileSync(s.path("second.bin"), randomBytes(1024 * 1024));
    await send("after the database copy", s.path("second.bin"));
    cpSync(join(bob, "client.db-attachments"), join(backup, "client.db-attachments"), { recursive: true });
    expect(readdirSync(join(backup, "client.db-attachments"))).toHaveLength(2);

    // Opened with bob's password and pointed at a port where no relay listens.
    await start("bob", backup, "127.0.0.1:9");
    const mail = await inbox(backup);
    expect(mail.map((m) => m.id)).toEqual([kept]); // not the second: it came after the database copy
    const dest = s.path("restored");
    await ok(["show", kept, "--data", backup, "--save-attachments", dest]);
    expect(sha(readFileSync(join(dest, "first.bin")))).toBe(sha(first));
    expect(readdirSync(join(backup, "client.db-attachments"))).toHaveLength(1); // the stray one went
  }, 120_000);
});
