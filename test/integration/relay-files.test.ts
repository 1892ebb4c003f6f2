// The relay's files are its owner's alone (SPEC.md §10, SECURITY.md §8): a real relay process
// started on a data dir that does not exist yet, under the usual umask 022, makes the dir 0700
// and relay.db with its -wal and -shm 0600, and tightens a relay.db an older version left 0644.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { Scratch, passwordFile, register, startRelay, waitFor } from "../support/harness.ts";

const s = new Scratch();
afterAll(() => s.cleanup());

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(4, "0");

describe("relay file modes", () => {
  test("a new data dir is 0700, relay.db, -wal and -shm 0600, whatever the umask lets through", async () => {
    const data = s.path("fresh", "relay"); // neither folder exists yet
    const relay = s.track(await startRelay({ dataDir: data }));
    // The ctrl command writes while the relay runs: the WAL files are in use.
    await register(data, "alice", passwordFile(s.path("pw"), "alice", "alice's password"));
    const db = join(data, "relay.db");
    await waitFor("relay.db-wal and -shm", () => existsSync(`${db}-wal`) && existsSync(`${db}-shm`));
    expect(mode(data)).toBe("0700");
    expect(mode(db)).toBe("0600");
    expect(mode(`${db}-wal`)).toBe("0600");
    expect(mode(`${db}-shm`)).toBe("0600");
    expect(mode(join(data, "relay-key"))).toBe("0600");
    await relay.stop();
  });

  test("a relay.db left group-readable by an older version is made 0600 at start", async () => {
    const data = s.path("old");
    mkdirSync(data, { mode: 0o700 });
    const db = join(data, "relay.db");
    new Database(db, { create: true }).close();
    chmodSync(db, 0o644);
    const relay = s.track(await startRelay({ dataDir: data }));
    expect(mode(db)).toBe("0600");
    await relay.stop();
  });
});
