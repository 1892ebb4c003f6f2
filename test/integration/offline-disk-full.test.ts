// A full relay disk loses nothing and says so (SPEC.md §12.3): the relay's data dir is a small
// tmpfs, so writing a large waiting message really fails with ENOSPC. The relay keeps nothing
// half-written and answers relay-full; the sender keeps the message queued with one sentence;
// small mail still waits and arrives. Mounting needs root and the right to mount (CI has
// both); elsewhere the test is skipped, never counted as passed.

import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { randomBytes } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch, inbox, ok, outboxFlag, passwordFile, register, startClient, startRelay, waitConnected, waitFor } from "../support/harness.ts";
import { canMountTmpfs, mountTmpfs } from "../support/small-disk.ts";

const s = new Scratch();
const canMount = canMountTmpfs(s.path("probe"));
const mounts: string[] = [];
const procs: { stop(): Promise<number> }[] = [];

afterAll(async () => {
  // The processes first, then the mount, then the folders: a mount point in use cannot go.
  for (const p of procs) await p.stop().catch(() => 0);
  for (const m of mounts) spawnSync(["umount", "-l", m]);
  await s.cleanup();
});

describe.if(canMount)("a full relay disk", () => {
  test("a message that does not fit is refused relay-full, nothing half-written stays, the sender keeps it Q; small mail still waits", async () => {
    const disk = s.path("relay-disk");
    mountTmpfs(disk, 6);
    mounts.push(disk);
    const data = join(disk, "data");
    const relay = await startRelay({ dataDir: data, heartbeatTimeout: 3 });
    procs.push(relay);
    const pw: Record<string, string> = {};
    for (const u of ["alice", "bob"]) {
      pw[u] = passwordFile(s.path("pw"), u, `${u} full disk ${randomBytes(4).toString("hex")}`);
      await register(data, u, pw[u]!);
    }
    const start = async (u: string) => {
      const c = await startClient({ user: u, server: `127.0.0.1:${relay.port}`, dataDir: s.path(u), passwordFile: pw[u]!, relayKey: relay.key });
      procs.push(c);
      await waitConnected(s.path(u));
      return c;
    };
    const bob = await start("bob");
    await waitFor("bob's prekeys", async () => {
      const { Database } = await import("bun:sqlite");
      const db = new Database(join(data, "mailbox.db"), { readonly: true });
      try {
        return db.query<{ c: number }, []>("SELECT count(*) AS c FROM one_time_prekeys").get()!.c >= 100;
      } finally {
        db.close();
      }
    }, 30_000, 100);
    await bob.stop();
    await start("alice");

    const file = s.path("big.bin");
    writeFileSync(file, randomBytes(8 * 1024 * 1024));
    const big = (await ok(["send", "--data", s.path("alice"), "--to", "bob", "--subject", "too big for the relay's disk", "--body", "b", "--attach", file])).match(/[0-9a-f]{32}/)![0]!;
    const d = await waitFor("the refusal", async () => {
      const m = JSON.parse(await ok(["show", big, "--data", s.path("alice"), "--json"])) as { deliveries: { state: string; error: string | null }[] };
      return m.deliveries[0]!.error?.includes("disk is full") ? m.deliveries[0]! : undefined;
    }, 60_000, 200);
    expect(d.state).toBe("queued");
    expect(d.error).toBe("the relay's disk is full; retrying later");
    expect(readdirSync(join(data, "mailbox"))).toEqual([]);
    expect(relay.proc.output).toContain("mailbox-write-failed");

    const small = (await ok(["send", "--data", s.path("alice"), "--to", "bob", "--subject", "small still fits", "--body", "b"])).match(/[0-9a-f]{32}/)![0]!;
    await outboxFlag(s.path("alice"), small, "W");
    await start("bob");
    await waitFor("bob to receive the small one", async () => (await inbox(s.path("bob"))).find((m) => m.id === small), 60_000, 200);
    await outboxFlag(s.path("alice"), small, "S");
  }, 180_000);
});
