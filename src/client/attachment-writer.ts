// Writing one attachment into the store (CLIENT.md §1.3): STREAM chunks under the
// attachment's own key, whatever sizes the pieces arrive in, appended to the attachment's
// own file. Only the sync at the end counts: an attachment counts only once the message that
// owns it commits, and a crash before that throws it away (§7.5). No byte is written twice
// (as SQLite's WAL and checkpoint did when the chunks were rows: 140 MB/s there, over 600
// here, bench/). Every SYNC_EVERY bytes a sync is started in the background, so that the
// disk writes while the bytes still come instead of all at the end (a gigabyte's final
// fsync took over a second here).

import { closeSync, fdatasync, fsyncSync, writeSync } from "node:fs";
import { StreamWriter } from "../protocol/stream.ts";
import { releaseBytes } from "../protocol/bytes.ts";

const SYNC_EVERY = 16 * 1024 * 1024;

/** Write all of bytes (writeSync may take only part of them). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
}

export interface AttachmentFile {
  fd: number;
  /** Called once the file is complete and synced, with its plaintext size. */
  done(size: number): void;
  /** Called when the writer ends either way: it no longer holds the file open. */
  closed(): void;
}

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class AttachmentWriter {
  readonly att: string;
  #file: AttachmentFile;
  #open = true;
  #unsynced = 0; // bytes written since the last background sync started
  #syncing = false; // a background sync holds the file open
  #stream: StreamWriter;
  #written = 0; // ciphertext bytes in the file so far
  #finished = false;
  /** Readers following the file while it is written (Store.followAttachment). */
  #waiters: Waiter[] = [];

  constructor(att: string, key: Uint8Array, file: AttachmentFile) {
    this.att = att;
    this.#file = file;
    this.#stream = new StreamWriter(key, (sealed, last) => this.#append(sealed, last), { parts: true });
  }

  get size(): number {
    return this.#stream.size;
  }

  /**
   * Resolves once the file holds at least `bytes` bytes of ciphertext (unsynced: a reader of
   * the same file sees them); rejects if the writer stops short of that.
   */
  reached(bytes: number): Promise<void> {
    if (this.#written >= bytes) return Promise.resolve();
    if (!this.#open) return Promise.reject(new Error(this.#finished ? "attachment ended early" : "the upload stopped"));
    return new Promise((resolve, reject) => this.#waiters.push({ bytes, resolve, reject }));
  }

  write(data: Uint8Array): void {
    if (!this.#open) throw new Error("attachment writer is closed");
    this.#stream.write(data);
  }

  /** Seal the last chunk and sync the file: the attachment is complete on disk. */
  finish(): number {
    if (!this.#open) throw new Error("attachment writer is closed");
    try {
      this.#stream.close();
      fsyncSync(this.#file.fd);
      this.#finished = true;
    } finally {
      this.close();
    }
    this.#file.done(this.size);
    return this.size;
  }

  /** Let go of the file without finishing it (the caller discards the attachment). */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    // A background sync still uses the descriptor: it closes it when it is done.
    if (!this.#syncing) closeSync(this.#file.fd);
    this.#file.closed();
    for (const w of this.#waiters.splice(0)) w.reject(new Error(this.#finished ? "attachment ended early" : "the upload stopped"));
  }

  /**
   * One sealed chunk to the file, in the pieces the sealer gave: no joining copy. The pieces
   * are the sealer's new buffers, ours alone: written, they go back to the allocator at once.
   */
  #append(sealed: Uint8Array[], last: boolean): void {
    for (const piece of sealed) {
      writeAll(this.#file.fd, piece);
      this.#unsynced += piece.length;
      this.#written += piece.length;
      releaseBytes(piece);
    }
    if (this.#waiters.length > 0) this.#wakeReaders();
    if (!last && this.#unsynced >= SYNC_EVERY && !this.#syncing) this.#syncInBackground();
  }

  #wakeReaders(): void {
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (this.#written >= w.bytes) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** Start writing what we have to the disk; its outcome only matters to the final sync. */
  #syncInBackground(): void {
    this.#unsynced = 0;
    this.#syncing = true;
    const fd = this.#file.fd;
    fdatasync(fd, () => {
      this.#syncing = false;
      if (!this.#open) closeSync(fd);
    });
  }
}
