// Following an attachment while it is written (Store.followAttachment): what the outbox reads
// when it sends an upload before the upload ends. Real SQLite store and files.

import { expect, test } from "bun:test";
import { storeScratch } from "../support/store-scratch.ts";
import { STREAM_CHUNK } from "../../src/protocol/stream.ts";
import { waitFor } from "../support/harness.ts";

const stores = storeScratch("smsg-follow-", "store.db");
const KEY = new Uint8Array(32).fill(0x11);

function patterned(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

async function drain(it: AsyncIterable<Uint8Array>, got: Uint8Array[]): Promise<void> {
  for await (const c of it) got.push(c);
}

test("a follower yields each chunk once it is written, and all of them in order", async () => {
  const s = stores.open(KEY);
  const data = patterned(3 * STREAM_CHUNK + 1234, 7);
  const w = s.newAttachment("draft", 1_000);
  const got: Uint8Array[] = [];
  const done = drain(s.followAttachment(w, data.length), got);
  // A chunk is sealed into the file only once a further byte arrives.
  w.write(data.subarray(0, STREAM_CHUNK + 1));
  await waitFor("the first chunk, while the upload is still open", () => got.length === 1, 5_000, 1);
  w.write(data.subarray(STREAM_CHUNK + 1));
  w.finish();
  await done;
  expect(Buffer.concat(got).equals(Buffer.from(data))).toBe(true);
  s.close();
});

test("a follower of an upload that stops fails instead of waiting forever", async () => {
  const s = stores.open(KEY);
  const w = s.newAttachment("draft", 1_000);
  const got: Uint8Array[] = [];
  const done = drain(s.followAttachment(w, 10 * STREAM_CHUNK), got);
  w.write(patterned(2 * STREAM_CHUNK, 3));
  s.discardAttachment(w.att);
  await expect(done).rejects.toThrow("the upload stopped");
  expect(got.length).toBe(1);
  s.close();
});

test("a follower of an upload shorter than it declared fails", async () => {
  const s = stores.open(KEY);
  const w = s.newAttachment("draft", 1_000);
  const done = drain(s.followAttachment(w, 3 * STREAM_CHUNK), []);
  w.write(patterned(STREAM_CHUNK, 3));
  w.finish();
  // Its last chunk came early: the tag of a chunk read as not-last does not verify.
  await expect(done).rejects.toThrow();
  s.close();
});
