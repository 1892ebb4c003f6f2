// Sending an attachment while it is still being uploaded (CLIENT.md §2.1, POST
// /api/send/upload): real relay and daemons. The upload is held half-way by a sender process
// (test/support/held-upload.ts) so that what the recipient has by then is observable: chunks
// arrive before the upload ends, and a sender killed, or a daemon killed, mid-way leaves
// nothing at the recipient and no sent message.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn, type Subprocess } from "bun";
import { ROOT, Scratch, cli, inbox, ok, outbox, outboxFlag, received, sendMail, waitFor } from "../support/harness.ts";
import { startWorld, type World } from "../support/world.ts";
import { STREAM_CHUNK } from "../../src/protocol/stream.ts";

const MiB = 1024 * 1024;
const s = new Scratch();
let w: World;

beforeAll(async () => {
  w = await startWorld(s, { users: ["alice", "bob"] });
}, 60_000);
afterAll(() => s.cleanup());

/** Bytes of the attachment files in a data dir's store (incoming ones grow as chunks arrive). */
function storedBytes(user: string): number {
  const dir = join(s.path(user), "client.db-attachments");
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** An upload from alice to bob of `size` bytes, of which only `first` go until release(). */
function heldUpload(size: number, first: number, extra = 0) {
  const args = [s.path("alice"), "bob", String(size), String(first), String(extra)];
  const proc: Subprocess<"pipe", "pipe", "inherit"> = spawn([process.execPath, join(ROOT, "test/support/held-upload.ts"), ...args], {
    cwd: ROOT,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const output = new Response(proc.stdout).text();
  return {
    proc,
    release() {
      proc.stdin.write("go\n");
      proc.stdin.flush();
    },
    async answer(): Promise<string> {
      await proc.exited;
      return output;
    },
  };
}

describe("an attachment sent while it is uploaded", () => {
  test("arrives byte-identical, and its chunks reach the recipient before the upload ends", async () => {
    const size = 24 * MiB;
    const up = heldUpload(size, 12 * MiB);
    // Without the overlap nothing reaches bob until the whole upload is in: this would time out.
    await waitFor("bob to store chunks while alice's upload is held half-way", () => storedBytes("bob") > 4 * MiB, 30_000, 50);
    expect(up.proc.exitCode).toBeNull(); // still uploading
    expect((await outbox(s.path("alice"))).length).toBe(0); // not a sent message yet
    up.release();
    const out = await up.answer();
    expect(up.proc.exitCode).toBe(0);
    const { id, sha256 } = JSON.parse(out.trim().split("\n").pop()!) as { id: string; sha256: string };
    const m = await received(s.path("bob"), id);
    expect(m.attachments).toEqual([{ name: "held.bin", size }]);
    const dest = s.path("saved");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    expect(createHash("sha256").update(readFileSync(join(dest, "held.bin"))).digest("hex")).toBe(sha256);
    await outboxFlag(s.path("alice"), id, "S");
  }, 120_000);

  test("smsg send --attach takes the same path: same output, the file arrives whole", async () => {
    const data = randomBytes(21 * MiB);
    const file = s.path("cli.bin");
    writeFileSync(file, data);
    const id = await sendMail(s.path("alice"), "bob", "by the CLI", "see attached", [file]);
    await received(s.path("bob"), id);
    const dest = s.path("saved-cli");
    await ok(["show", id, "--data", s.path("bob"), "--save-attachments", dest]);
    expect(readFileSync(join(dest, "cli.bin")).equals(data)).toBe(true);
    await outboxFlag(s.path("alice"), id, "S");
  }, 120_000);

  test("several recipients: the first is sent to while uploading, the others from the store", async () => {
    const data = randomBytes(5 * MiB);
    const file = s.path("two.bin");
    writeFileSync(file, data);
    const id = await sendMail(s.path("alice"), "bob,alice", "to two", "see attached", [file]);
    for (const user of ["bob", "alice"]) {
      await received(s.path(user), id);
      const dest = s.path(`saved-two-${user}`);
      await ok(["show", id, "--data", s.path(user), "--save-attachments", dest]);
      expect(readFileSync(join(dest, "two.bin")).equals(data)).toBe(true);
    }
    await outboxFlag(s.path("alice"), id, "S");
  }, 120_000);

  test("a bad send (an unknown recipient) is a clear error and stores nothing", async () => {
    const file = s.path("bad.bin");
    writeFileSync(file, randomBytes(3 * MiB));
    const aliceAtStart = storedBytes("alice");
    const r = await cli(["send", "--data", s.path("alice"), "--to", "nobody", "--subject", "x", "--body", "y", "--attach", file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("unknown recipient: nobody is not a user of this relay");
    expect(storedBytes("alice")).toBe(aliceAtStart);
  }, 60_000);

  test("the last chunk waits for the commit: an upload that turns out bad is never stored at bob", async () => {
    const before = { inbox: (await inbox(s.path("bob"))).length, outbox: (await outbox(s.path("alice"))).length };
    const bobAtStart = storedBytes("bob");
    const size = 8 * MiB;
    // Every declared byte goes at once; one byte too many comes only after bob has the rest.
    const up = heldUpload(size, size, 1);
    await waitFor("bob to store all but the last chunk", () => storedBytes("bob") - bobAtStart >= size - 2 * STREAM_CHUNK, 30_000, 50);
    up.release();
    expect(await up.answer()).toContain("error: the upload is longer than the attachments' declared sizes");
    await waitFor("bob to discard the aborted transfer", () => storedBytes("bob") === bobAtStart, 30_000, 50);
    expect((await inbox(s.path("bob"))).length).toBe(before.inbox);
    expect((await outbox(s.path("alice"))).length).toBe(before.outbox);
  }, 120_000);

  test("a sender killed mid-way: nothing stored at bob, no message at alice", async () => {
    const before = { inbox: (await inbox(s.path("bob"))).length, outbox: (await outbox(s.path("alice"))).length };
    const bobAtStart = storedBytes("bob");
    const aliceAtStart = storedBytes("alice");
    const up = heldUpload(24 * MiB, 12 * MiB);
    await waitFor("bob to store chunks of the upload", () => storedBytes("bob") > bobAtStart + 4 * MiB, 30_000, 50);
    up.proc.kill("SIGKILL");
    await up.proc.exited;
    // Alice's daemon sees the request cut, discards the upload and aborts the transfer: bob
    // discards what he had of it, and alice's store gives its attachment back.
    await waitFor("bob to discard the aborted transfer", () => storedBytes("bob") === bobAtStart, 30_000, 50);
    await waitFor("alice to discard the cut upload", () => storedBytes("alice") === aliceAtStart, 30_000, 50);
    // A later message goes through the same link: the cut one never becomes a sent message.
    const later = await sendMail(s.path("alice"), "bob", "after the cut", "still here");
    await received(s.path("bob"), later);
    expect((await inbox(s.path("bob"))).map((m) => m.id)).toEqual(expect.arrayContaining([later]));
    expect((await inbox(s.path("bob"))).length).toBe(before.inbox + 1);
    expect((await outbox(s.path("alice"))).length).toBe(before.outbox + 1);
  }, 120_000);

  test("alice's daemon killed just after the commit: the message arrives once, after its restart if need be", async () => {
    const before = (await inbox(s.path("bob"))).length;
    const up = heldUpload(8 * MiB, 4 * MiB);
    up.release();
    const out = await up.answer();
    const { id } = JSON.parse(out.trim().split("\n").pop()!) as { id: string };
    await w.clients.alice!.stop("SIGKILL"); // its last chunk may or may not have gone
    await w.start("alice");
    await received(s.path("bob"), id);
    await outboxFlag(s.path("alice"), id, "S");
    const mine = (await inbox(s.path("bob"))).filter((m) => m.id === id);
    expect(mine.length).toBe(1);
    expect((await inbox(s.path("bob"))).length).toBe(before + 1);
  }, 120_000);

  test("alice's daemon killed mid-way: nothing delivered, nothing duplicated after its restart", async () => {
    const before = { inbox: (await inbox(s.path("bob"))).length, outbox: (await outbox(s.path("alice"))).length };
    const bobAtStart = storedBytes("bob");
    const up = heldUpload(24 * MiB, 12 * MiB);
    await waitFor("bob to store chunks of the upload", () => storedBytes("bob") > bobAtStart + 4 * MiB, 30_000, 50);
    await w.clients.alice!.stop("SIGKILL");
    expect(await up.answer()).toContain("error:"); // the sender is told it did not go
    await waitFor("bob to discard the transfer of the dead sender", () => storedBytes("bob") === bobAtStart, 30_000, 50);
    await w.start("alice");
    const later = await sendMail(s.path("alice"), "bob", "after the restart", "still here");
    await received(s.path("bob"), later);
    await outboxFlag(s.path("alice"), later, "S");
    expect((await inbox(s.path("bob"))).length).toBe(before.inbox + 1);
    expect((await outbox(s.path("alice"))).length).toBe(before.outbox + 1);
  }, 120_000);
});
