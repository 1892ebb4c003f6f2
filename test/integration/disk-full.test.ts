// A full disk loses nothing (CLIENT.md §1.5): real daemons whose data dir is a small tmpfs,
// so every write past its size really fails with ENOSPC. The recipient drops what it wrote
// of the message and refuses it; the sender keeps it queued, and it arrives, once, when
// there is room. A sender whose disk is full is told so and keeps nothing half-made.
// Mounting needs root and the right to mount (the CI machine has both); elsewhere these
// tests are skipped, never counted as passed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  Scratch,
  cli,
  inbox,
  ok,
  outbox,
  outboxFlag,
  sendFrom,
  waitFor,
} from "../support/harness.ts";
import { canMountTmpfs, mountTmpfs } from "../support/small-disk.ts";
import { startWorld, type World } from "../support/world.ts";

const s = new Scratch();
const canMount = canMountTmpfs(s.path("probe"));
const mounts: string[] = [];
let w: World;

/** A folder that is a tmpfs of `mib` MiB. */
function smallDisk(name: string, mib: number): string {
  const dir = s.path(name);
  mountTmpfs(dir, mib);
  mounts.push(dir);
  return dir;
}

function grow(dir: string, mib: number): void {
  const r = spawnSync(["mount", "-o", `remount,size=${mib}m`, dir]);
  if (r.exitCode !== 0) throw new Error(`remount: ${r.stderr.toString()}`);
}

/** The sender's record of one delivery, through the local API. */
async function delivery(dataDir: string, id: string): Promise<{ state: string; error: string | null }> {
  const { url } = JSON.parse(readFileSync(join(dataDir, "daemon.json"), "utf8")) as { url: string };
  const token = readFileSync(join(dataDir, "api-token"), "utf8").trim();
  const res = await fetch(`${url}/api/messages/${id}`, { headers: { authorization: `Bearer ${token}` } });
  const m = (await res.json()) as { deliveries: { state: string; error: string | null }[] };
  return m.deliveries[0]!;
}

const attachmentFiles = (dataDir: string) => readdirSync(join(dataDir, "client.db-attachments"));

beforeAll(async () => {
  if (!canMount) return;
  w = await startWorld(s, { users: ["alice", "bob", "carol"], idle: ["bob", "carol"] });
  await w.start("bob", { dataDir: join(smallDisk("bob-disk", 8), "data") });
  await w.start("carol", { dataDir: join(smallDisk("carol-disk", 8), "data") });
}, 120_000);

afterAll(async () => {
  for (const c of Object.values(w?.clients ?? {})) await c.stop().catch(() => 0);
  for (const m of mounts) spawnSync(["umount", "-l", m]);
  await s.cleanup();
});

describe.if(canMount)("a full disk", () => {
  test("at the recipient: refused and cleaned up, kept queued by the sender, delivered once there is room", async () => {
    const bob = w.clients.bob!.dataDir;
    const first = await sendFrom(s.path("alice"), "bob", "before the disk fills");
    await outboxFlag(s.path("alice"), first, "S");

    const file = s.path("big.bin");
    const data = randomBytes(12 * 1024 * 1024); // more than bob's whole disk
    writeFileSync(file, data);
    const big = await sendFrom(s.path("alice"), "bob", "does not fit", ["--attach", file]);
    await w.clients.bob!.proc.line(/dropped message from alice: the disk of the data dir is full/, 30_000);
    await waitFor("alice to record bob's refusal", async () => {
      const d = await delivery(s.path("alice"), big);
      return d.error?.includes("rejected") || undefined;
    });
    expect((await delivery(s.path("alice"), big)).state).toBe("queued");
    expect((await inbox(bob)).some((m) => m.id === big)).toBe(false);
    expect(attachmentFiles(bob)).toEqual([]); // what was written of it is gone

    // Bob's client carries on, and the room it gave back is usable.
    const small = await sendFrom(s.path("alice"), "bob", "still works");
    await outboxFlag(s.path("alice"), small, "S");
    expect((await inbox(bob)).some((m) => m.id === small)).toBe(true);

    // Room again; alice's client, started anew, tries at once instead of after its backoff.
    grow(join(bob, ".."), 64);
    await w.clients.alice!.stop();
    await w.start("alice");
    await outboxFlag(s.path("alice"), big, "S");
    const copies = (await inbox(bob)).filter((m) => m.id === big);
    expect(copies).toHaveLength(1);
    const dest = s.path("saved");
    await ok(["show", big, "--data", bob, "--save-attachments", dest]);
    expect(createHash("sha256").update(readFileSync(join(dest, "big.bin"))).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    expect(attachmentFiles(bob)).toHaveLength(1);
  }, 180_000);

  test("at the sender: the upload is refused in one sentence, nothing half-made is kept, and small mail still goes", async () => {
    const carol = w.clients.carol!.dataDir;
    const file = s.path("too-big.bin");
    writeFileSync(file, randomBytes(12 * 1024 * 1024));
    const before = (await outbox(carol)).length;
    const r = await cli(["send", "--data", carol, "--to", "alice", "--subject", "too big", "--body", "x", "--attach", file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("smsg: the disk of the data dir is full: free some space and try again");
    expect((await outbox(carol)).length).toBe(before);
    expect(attachmentFiles(carol)).toEqual([]);
    const small = await sendFrom(carol, "alice", "a short note");
    await outboxFlag(carol, small, "S");
  }, 120_000);
});
