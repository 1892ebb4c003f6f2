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

export class AttachmentWriter {
  readonly att: string;
  #file: AttachmentFile;
  #open = true;
  #unsynced = 0; // bytes written since the last background sync started
  #syncing = false; // a background sync holds the file open
  #stream: StreamWriter;

  constructor(att: string, key: Uint8Array, file: AttachmentFile) {
    this.att = att;
    this.#file = file;
    this.#stream = new StreamWriter(key, (sealed, last) => this.#append(sealed, last), { parts: true });
  }

  get size(): number {
    return this.#stream.size;
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
  }

  /**
   * One sealed chunk to the file, in the pieces the sealer gave: no joining copy. The pieces
   * are the sealer's new buffers, ours alone: written, they go back to the allocator at once.
   */
  #append(sealed: Uint8Array[], last: boolean): void {
    for (const piece of sealed) {
      writeAll(this.#file.fd, piece);
      this.#unsynced += piece.length;
      releaseBytes(piece);
    }
    if (!last && this.#unsynced >= SYNC_EVERY && !this.#syncing) this.#syncInBackground();
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
